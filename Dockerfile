# The service's image: gunicorn as a non-root user on slim Python 3.11, static files collected.
#   docker build -t bitespeed-identity .
#   docker run --rm -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=... bitespeed-identity
# README "Deploy with Docker" has the whole path, migrations included.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --requirement /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY . .
# Settings refuse to load without a SECRET_KEY; collecting static files signs nothing.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/health/\", timeout=4)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "bitespeed.wsgi"]
