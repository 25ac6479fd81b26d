"""gunicorn configuration, used in production and by the run command (`python3 dev.py run`).

gevent workers (bench/README.md, "Choosing the web server", has the measurements against gthread,
granian and waitress): every connection is a greenlet, so idle kept-alive connections (10 000
sensors posting every 15 s) and clients that trickle their headers or stall their bodies cost a
few kilobytes each and never hold up anyone else; psycopg 3 and redis-py wait cooperatively under
gevent. Database connections come from a pool per worker (`DJANGO_DB_POOL_MAX_SIZE`, set here
unless the environment sets it) and go back to it after each request: without it each kept-alive
connection's greenlet would keep a PostgreSQL connection of its own.

HTTP/1.1 connections stay alive between requests (the Tasmota driver reuses its connection and
insists on it staying open); a response without Content-Length goes out as
`Transfer-Encoding: chunked`, one chunk per body part: the sensor views yield their protobuf
answer as a single part. Header names keep the spelling the application gives them (the analog
camera client looks for `Content-Type: application/x-protobuf` case-sensitively). Every value can
be overridden with the GUNICORN_* variables below; `GUNICORN_WORKER_CLASS=gthread` gives the
thread-per-request workers used before.
"""

import multiprocessing
import os


def _setting(name: str, default: str) -> str:
    """The variable's value, or `default` when it is unset or empty."""
    return os.environ.get(name, "").strip() or default


bind = _setting("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = _setting("GUNICORN_WORKER_CLASS", "gevent")
_gevent = worker_class == "gevent"
# gevent: one process per core does all the work; gthread: threads wait on I/O, so more processes.
_cores = multiprocessing.cpu_count()
workers = int(_setting("GUNICORN_WORKERS", str(_cores if _gevent else 2 * _cores + 1)))
threads = int(_setting("GUNICORN_THREADS", "8"))
# Open connections per worker, idle ones included (gevent: a greenlet each; gthread: an entry in
# the poller).
worker_connections = int(_setting("GUNICORN_WORKER_CONNECTIONS", "20000" if _gevent else "1000"))
# Sensors post every 15-21 s, so a keep-alive longer than that lets them reuse one connection.
keepalive = int(_setting("GUNICORN_KEEPALIVE", "65"))
timeout = int(_setting("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# gthread: a worker is replaced after this many requests (a guard against slow leaks). gevent: off,
# since replacing a worker closes every connection it holds, thousands of sensors at once
# (with 20 000: every 30 s per worker at 1 300 readings/s, every 60 s at the fleet's 667/s).
max_requests = int(_setting("GUNICORN_MAX_REQUESTS", "0" if _gevent else "20000"))
max_requests_jitter = 2000
# Request bodies are protobuf or JSON; 10 000 buffered readings fit well below this.
limit_request_line = 4094
accesslog = _setting("GUNICORN_ACCESSLOG", "-")
# gunicorn's default line holds the query string and the referrer; the unsubscribe link carries
# its token in the query, and tokens never go to logs. Path only, no referrer.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
errorlog = "-"
loglevel = _setting("GUNICORN_LOGLEVEL", "info")
# Behind a TLS terminator on the same host.
forwarded_allow_ips = _setting("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "energyleaf-web"
# No control socket in ~/.gunicorn (gunicorn 25+): several servers on one machine would share it.
control_socket_disable = True

if _gevent:
    # Set by gunicorn in its own processes and read by the settings in each worker (PostgreSQL
    # only; SQLite has no pool). An explicit DJANGO_DB_POOL_MAX_SIZE wins; 0 turns the pool off.
    raw_env = [f"DJANGO_DB_POOL_MAX_SIZE={_setting('DJANGO_DB_POOL_MAX_SIZE', '16')}"]
