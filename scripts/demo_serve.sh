#!/usr/bin/env bash
# Serve the demo: a Celery worker with embedded beat in the background, Django's server in the foreground.
# Without REDIS_URL, Celery uses a file broker under var/ (no server needed); with it, Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p var/celery-broker var/celery-processed var/log
.venv/bin/celery -A config worker --beat --pool=solo --concurrency=1 --loglevel=INFO \
  --schedule=var/celerybeat-schedule >var/log/celery.log 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Celery worker + beat started (pid $worker, log var/log/celery.log)."
echo "Serving on http://127.0.0.1:8000  (admin: /admin/, API docs: /api/docs/, health: /healthz)"
"$PY" manage.py runserver --noreload 127.0.0.1:8000
