"""gunicorn settings. Workers: sync, 2 per core by default (measured in docs/performance.md)."""
import multiprocessing
import os

bind = os.environ.get("YINGCAI_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("YINGCAI_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = os.environ.get("YINGCAI_WORKER_CLASS", "sync")
threads = int(os.environ.get("YINGCAI_THREADS", 1))
# The exam-start herd opens up to a few thousand connections at once: keep them in the kernel's queue.
backlog = 2048
# A request never needs long: a stuck one is killed rather than holding a worker for the whole exam.
timeout = int(os.environ.get("YINGCAI_WORKER_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# "off" (or empty) leaves access logging to the proxy in front.
accesslog = None if os.environ.get("YINGCAI_ACCESS_LOG", "-") in ("", "off") else os.environ.get("YINGCAI_ACCESS_LOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("YINGCAI_FORWARDED_ALLOW_IPS", "127.0.0.1")
