"""gunicorn's configuration: ``gunicorn --config gunicorn.conf.py bitespeed.wsgi``.

Platforms set ``PORT`` and, optionally, ``WEB_CONCURRENCY``; a ``--bind`` on the command line
(``make run`` binds 127.0.0.1:8000) overrides the bind below.
https://docs.gunicorn.org/en/stable/settings.html
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Sync workers: /identify/ spends its time in PostgreSQL, not in Python, and a sync worker keeps
# one persistent database connection. Measured on 2 cores shared with PostgreSQL and the load
# generator (12 clients, 15 s runs, median of 2-4 runs): 2 workers 181 req/s, 3 workers 191 req/s,
# 4 workers 170 req/s with the widest spread (105-238). Hence 3; WEB_CONCURRENCY overrides it.
# A sync worker whose own error answers (malformed HTTP, a request cut off by the timeout) are JSON.
worker_class = "bitespeed.gunicorn_worker.JSONErrorSyncWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))

# A worker silent for this long is killed and replaced; a request is never allowed to hang forever.
# Longer than the database's own limits (DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS), so that
# PostgreSQL gives up first and the worker answers 503 instead of being killed mid-transaction.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (a deploy, a scale-down), workers finish the requests they hold for up to this long.
graceful_timeout = 30

# Workers' heartbeat files in memory where there is a tmpfs: a container's disk can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The service writes its own JSON line per request (contacts.middleware.RequestLogMiddleware), so
# gunicorn's access log is off; gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"

# Several gunicorn instances may share a machine and user; none needs the control socket.
control_socket_disable = True
