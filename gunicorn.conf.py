"""gunicorn settings: gthread, one worker per core with 4 threads each (measured in docs/performance.md).

Why gthread: the exam page's requests are small and frequent, and a threaded worker keeps the
connection alive between them (behind nginx: upstream keepalive), where a sync worker opens and
gracefully closes a TCP connection for every save. On the 2-core benchmark machine that doubled the
autosave throughput at 64 connections; 4 threads per worker let one worker use the time its threads
wait on PostgreSQL. Override with YINGCAI_WORKER_CLASS / YINGCAI_WORKERS / YINGCAI_THREADS.
"""
import multiprocessing
import os

bind = os.environ.get("YINGCAI_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("YINGCAI_WORKERS", multiprocessing.cpu_count()))
worker_class = os.environ.get("YINGCAI_WORKER_CLASS", "gthread")
threads = int(os.environ.get("YINGCAI_THREADS", 4))
# The exam-start herd opens up to a few thousand connections at once: keep them in the kernel's queue.
backlog = 2048
# A request never needs long: a stuck one is killed rather than holding a worker for the whole exam.
timeout = int(os.environ.get("YINGCAI_WORKER_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then (a slow leak never grows for a whole exam), but rarely: a restart
# costs a worker boot and drops its keep-alive connections, and an exam day is ~100 requests/s.
max_requests = 20000
max_requests_jitter = 2000
# gthread: connections a worker keeps open (idle keep-alive ones included). Behind nginx a few dozen.
worker_connections = 1000
# "off" (or empty) leaves access logging to the proxy in front.
accesslog = None if os.environ.get("YINGCAI_ACCESS_LOG", "-") in ("", "off") else os.environ.get("YINGCAI_ACCESS_LOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("YINGCAI_FORWARDED_ALLOW_IPS", "127.0.0.1")
