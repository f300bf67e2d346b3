# The AIPress control plane, for Cloud Run (or any container host). One image, three commands:
#   web     (default)  uvicorn serving HTTP and websockets on $PORT: HTTP through Django's WSGI
#                      handler in WEB_THREADS threads per worker (docs/architecture.md, "A request's path")
#   worker             python -m celery -A aipress worker --loglevel INFO
#   beat               python -m celery -A aipress beat --loglevel INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler
# Before a new revision takes traffic, run `python manage.py setup_platform` once (a Cloud Run job).
# Front-end libraries (Chart.js) from npm, as package-lock.json pins them.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
COPY --from=assets /assets/node_modules/chart.js/dist /app/node_modules/chart.js/dist
# collectstatic needs settings to load; the key used here never serves a request.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
    && useradd --system --uid 10001 aipress && chown -R aipress /app/var
USER aipress

# One worker process per core; each runs requests in 8 threads (aipress/serving.py).
ENV PORT=8080 WEB_WORKERS=2 WEB_THREADS=8 WEB_HTTP=wsgi
CMD ["sh", "-c", "exec python -m uvicorn aipress.asgi:application --host 0.0.0.0 --port $PORT --workers $WEB_WORKERS --no-proxy-headers --no-access-log"]
