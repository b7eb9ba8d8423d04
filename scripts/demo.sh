#!/usr/bin/env bash
# One command for a newcomer: install everything, load the demo and serve it at http://127.0.0.1:5000
# with a background-job worker. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi YINGCAI_ENV_NAME=demo
scripts/install.sh
.venv/bin/flask demo
.venv/bin/flask jobs worker &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
echo "==> serving http://127.0.0.1:${PORT:-5000} (Ctrl-C to stop)"
.venv/bin/gunicorn -c gunicorn.conf.py --bind "127.0.0.1:${PORT:-5000}" wsgi:app
