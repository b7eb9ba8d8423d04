#!/usr/bin/env bash
# Every figure of docs/performance.md, on SQLite and on PostgreSQL (+ Redis), printed as tables.
# Usage: benchmarks/run_all.sh [sqlite] [postgres]   (default: both). Needs: pip install -e '.[load]'.
# Listens on 127.0.0.1:18080-18091 only; every load loop is bounded by a count and a time limit.
# The PostgreSQL run drops and recreates the database yingcai_bench (LOADKIT_PG_DB) on 127.0.0.1:5432.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WORKDIR=${LOADKIT_WORKDIR:-/tmp/yingcai-loadkit}
dbs=("$@"); [ ${#dbs[@]} -eq 0 ] && dbs=(sqlite postgres)
rc=0
echo "==> machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for db in "${dbs[@]}"; do
  echo "==> $db: login, autosave vs bare upsert, start vs bare start, whole exam (two nodes on postgres)"
  "$PY" -m benchmarks.loadkit all --db "$db" --workdir "$WORKDIR" --think "${THINK:-8}" --heartbeat 20 \
    --logins 300 || rc=1
done
echo "==> ranking 100,000 attempts"
"$PY" benchmarks/bench_ranking.py || rc=1
echo "==> exports of 100,000 ranked rows"
"$PY" benchmarks/bench_exports.py || rc=1
exit $rc
