"""gunicorn configuration, used in production and by the run command (`python3 dev.py run`).

gthread workers keep HTTP/1.1 connections alive between requests (the Tasmota driver reuses its
connection and insists on it staying open) and send responses without Content-Length as
`Transfer-Encoding: chunked`, one chunk per body part: the sensor views yield their protobuf
answer as a single part. Every value can be overridden with the GUNICORN_* variables below.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(multiprocessing.cpu_count() * 2 + 1)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Idle kept-alive connections wait in the worker's poller, not in a thread. Sensors post every
# 15-21 s, so a keep-alive longer than that lets them reuse one connection.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "65"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000
# Request bodies are protobuf or JSON; 10 000 buffered readings fit well below this.
limit_request_line = 4094
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
# gunicorn's default line holds the query string and the referrer; the unsubscribe link carries
# its token in the query, and tokens never go to logs. Path only, no referrer.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Behind a TLS terminator on the same host.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "energyleaf-web"
