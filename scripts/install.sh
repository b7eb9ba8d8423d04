#!/usr/bin/env bash
# Installs everything a fresh Debian machine needs to run and test the platform:
# system packages (by name, with apt), the virtualenv, compiled translations and the database schema.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-venv chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 redis-server)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> pip install -e .[dev]"
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"

echo "==> compiling translations"
.venv/bin/python scripts/i18n.py compile

echo "==> flask db upgrade"
FLASK_APP=wsgi YINGCAI_ENV_NAME=${YINGCAI_ENV_NAME:-demo} .venv/bin/flask db upgrade >/dev/null
echo "==> installed"
