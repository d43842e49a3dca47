"""WSGI entry point: ``gunicorn bitespeed.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitespeed.settings")

application = get_wsgi_application()
