"""gunicorn's configuration: ``gunicorn --config gunicorn.conf.py bitespeed.wsgi``.

Platforms set ``PORT`` and, optionally, ``WEB_CONCURRENCY``; a ``--bind`` on the command line
(``make run`` binds 127.0.0.1:8000) overrides the bind below.
https://docs.gunicorn.org/en/stable/settings.html
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Sync workers: /identify/ spends its time in PostgreSQL, not in Python, and a sync worker keeps
# one persistent database connection. On 2 cores, 3 workers served the most requests per second
# (README "Choosing the number of workers"); WEB_CONCURRENCY overrides it per machine.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))

# A worker silent for this long is killed and replaced; a request is never allowed to hang forever.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (a deploy, a scale-down), workers finish the requests they hold for up to this long.
graceful_timeout = 30

# The service writes its own JSON line per request (contacts.middleware.RequestLogMiddleware), so
# gunicorn's access log is off; gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"

# Several gunicorn instances may share a machine and user; none needs the control socket.
control_socket_disable = True
