"""gunicorn's configuration: ``gunicorn --config gunicorn.conf.py bitespeed.wsgi``.

Platforms set ``PORT`` and, optionally, ``WEB_CONCURRENCY``; a VM behind a local proxy sets
``HOST=127.0.0.1``. A ``--bind`` on the command line (``make run`` binds 127.0.0.1:8000)
overrides the bind below. https://docs.gunicorn.org/en/stable/settings.html
"""

import glob
import importlib
import os
import shutil
import sys
import tempfile

from django.core.exceptions import ImproperlyConfigured
from gunicorn.glogging import Logger

from contacts.log_filters import PersonalDataFilter

# The settings first, in the master: they load .env, which may set the variables read below, and a
# configuration error (a missing SECRET_KEY) stops the start here, before anything binds or forks:
# one line on stderr and exit status 1, where a traceback through the settings modules would hide
# what to set.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitespeed.settings")
try:
    importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
except ImproperlyConfigured as error:
    sys.exit(f"Configuration error: {error}")

# HOST: the address to listen on; every interface by default, as platforms and containers need.
# An IPv6 address is written with or without its brackets.
HOST = os.environ.get("HOST", "0.0.0.0").strip() or "0.0.0.0"
if ":" in HOST and not HOST.startswith("["):
    HOST = f"[{HOST}]"
bind = f"{HOST}:{os.environ.get('PORT', '8000')}"

# Threaded workers, one process per core, 4 threads each: keep-alive connections, and threads that
# overlap their waits on PostgreSQL; more threads only contend for the GIL and spread the requests
# over more database connections. A thread gets a request only once the worker's main thread has
# read all of it, so slow or idle clients hold no thread (docs/operations.md, "Slow and idle
# clients"). Layouts measured on 2 cores: docs/operations.md "Choosing the number of workers" and
# bench/RESULTS.md.
# WEB_CONCURRENCY and GUNICORN_THREADS override the counts; GUNICORN_WORKER_CLASS=sync runs one
# request per process, read by the process itself (a slow client holds the whole process).
# Both classes answer their own errors in JSON (bitespeed/gunicorn_worker.py).
WORKER_CLASSES = {
    "gthread": "bitespeed.gunicorn_worker.JSONErrorThreadWorker",
    "sync": "bitespeed.gunicorn_worker.JSONErrorSyncWorker",
}
worker_class = WORKER_CLASSES[os.environ.get("GUNICORN_WORKER_CLASS", "gthread")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
if worker_class == WORKER_CLASSES["gthread"]:
    # gunicorn turns a sync worker with threads > 1 into gthread: set threads only for gthread.
    threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A worker silent for this long is killed and replaced; a request is never allowed to hang forever.
# Longer than the database's own limits (DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS), so that
# PostgreSQL gives up first and the worker answers 503 instead of being killed mid-transaction.
# It also bounds each write of an answer to a client that does not read it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# The threaded worker's deadline for a whole request, header section and body: counted from the
# connection (on a kept-alive connection, from the next request's first byte, after an idle wait
# of at most `keepalive`, 2 s), never restarted by a byte. Unfinished then: 408.
request_read_timeout = float(os.environ.get("GUNICORN_REQUEST_READ_TIMEOUT", "5"))
# On SIGTERM (a deploy, a scale-down), workers finish the requests they hold for up to this long.
graceful_timeout = 30

# Workers' heartbeat files in memory where there is a tmpfs: a container's disk can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The service writes its own JSON line per request (contacts.middleware.RequestLogMiddleware), so
# gunicorn's access log is off; gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"
# Should the access log be turned on (--access-logfile): the path without its query string, no
# referrer (both may carry an email or a phone number, docs/privacy.md), and the request id.
access_log_format = (
    '%(h)s "%(m)s %(U)s %(H)s" status=%(s)s bytes=%(b)s duration_ms=%(M)s '
    "request_id=%({x-request-id}o)s"
)


class PersonalDataLogger(Logger):
    """gunicorn's logger, every handler of its error and access logs filtered by the service's
    ``PersonalDataFilter``: its messages quote malformed request lines, request URIs (with their
    query strings) and the exceptions of failed requests. Set up again on every reload (SIGHUP),
    which replaces the handlers."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(each, PersonalDataFilter) for each in handler.filters):
                    handler.addFilter(PersonalDataFilter())


logger_class = PersonalDataLogger

# Several gunicorn instances may share a machine and user; none needs the control socket.
control_socket_disable = True


# Prometheus metrics (docs/operations.md, "Metrics"): each worker writes its values to files in
# PROMETHEUS_MULTIPROC_DIR, and a scrape adds up every worker's, as prometheus-client's
# multiprocess mode asks (https://prometheus.github.io/client_python/multiprocess/). The master
# must set the variable before any worker imports prometheus-client, and nothing here imports it
# before then.
METRICS_DIR_PREFIX = "bitespeed-metrics-"


def on_starting(server) -> None:
    """Give the workers a metrics directory without another run's files: the operator's
    ``PROMETHEUS_MULTIPROC_DIR``, emptied of them, or else a private one made now."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)
        return
    os.makedirs(directory, exist_ok=True)
    for leftover in glob.glob(os.path.join(directory, "*.db")):
        os.remove(leftover)


def on_exit(server) -> None:
    """Remove the metrics directory ``on_starting`` made (never an operator's). Recognized by its
    name: a reload (SIGHUP) runs this file again, so no variable of it outlives the start."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    made_here = os.path.dirname(directory) == tempfile.gettempdir() and os.path.basename(
        directory
    ).startswith(METRICS_DIR_PREFIX)
    if made_here:
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker) -> None:
    """Drop a stopped worker's share of the gauges of live processes (threads busy, connections);
    its counts stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker) -> None:
    """Give the threaded worker its request deadline: gunicorn has no setting for it, and passes
    on none it does not know."""
    worker.request_read_timeout = request_read_timeout


def post_worker_init(worker) -> None:
    """Say when a worker has loaded the application and starts accepting connections: until
    then, the workers already up take every new connection (bench/server.py waits for all of
    them). Its threads are the capacity the metrics compare busy threads with."""
    from contacts.metrics import THREADS

    THREADS.set(worker.cfg.threads)
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def when_ready(server) -> None:
    """Say once, at start, when the API serves calls without a key (``API_KEYS_REQUIRED``)."""
    from django.conf import settings

    if not settings.API_KEYS_REQUIRED:
        server.log.warning(
            "API keys are not required (API_KEYS_REQUIRED=false): anyone who can reach this "
            "server can call the API. Meant for a loopback development server only."
        )
