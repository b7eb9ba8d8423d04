"""gunicorn settings. Workers: sync, 2 per core by default (measured in docs/performance.md)."""
import multiprocessing
import os

bind = os.environ.get("YINGCAI_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("YINGCAI_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
# A request never needs long: a stuck one is killed rather than holding a worker for the whole exam.
timeout = int(os.environ.get("YINGCAI_WORKER_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
accesslog = os.environ.get("YINGCAI_ACCESS_LOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("YINGCAI_FORWARDED_ALLOW_IPS", "127.0.0.1")
