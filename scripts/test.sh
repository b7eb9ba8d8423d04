#!/usr/bin/env bash
# Runs every test: the suite on SQLite, the suite on PostgreSQL (a fresh database), and the browser
# tests in Chromium, and the load kit's quick drills. Prints each stage's time.
# Usage: scripts/test.sh [sqlite|postgres|browser|drills|all]...
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
PG_URL=${TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/yingcai_test}
WORKERS=${PYTEST_WORKERS:-2}   # pytest-xdist workers (each with its own database)
declare -A BUDGET=([sqlite]=300 [postgres]=300 [browser]=300 [drills]=180)  # seconds, per CI stage
stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(all)
[ "${stages[0]}" = "all" ] && stages=(sqlite postgres browser drills)

failed=0
run_stage() {
  local name=$1; shift
  local start=$(date +%s)
  echo "==> stage $name"
  "$@"
  local rc=$?
  # pytest exit 5 = no tests collected: that is a failure here, never a silent pass.
  local took=$(( $(date +%s) - start ))
  local budget=${BUDGET[$name]:-0}
  echo "==> stage $name: exit $rc, ${took}s (budget ${budget}s)"
  [ "$budget" -gt 0 ] && [ "$took" -gt "$budget" ] && echo "==> WARNING: stage $name took ${took}s, over its ${budget}s budget"
  [ $rc -ne 0 ] && failed=1
  STAGE_TIMES+=("$name ${took}s (exit $rc)")
}
STAGE_TIMES=()
for stage in "${stages[@]}"; do
  case "$stage" in
    sqlite)   run_stage sqlite env -u TEST_DATABASE_URL $PY -m pytest -q -n "$WORKERS" --ignore=tests/browser ;;
    postgres) run_stage postgres env TEST_DATABASE_URL="$PG_URL" $PY -m pytest -q -n "$WORKERS" --ignore=tests/browser ;;
    browser)  run_stage browser env REQUIRE_E2E=${REQUIRE_E2E:-1} $PY -m pytest -q tests/browser ;;
    # The load kit's quick mode under gunicorn: SQLite on one node, PostgreSQL + Redis on two nodes;
    # it checks every acknowledged save against the database (0 lost) and that no request got a 5xx.
    # Then a few seconds of each load drill (docs/reliability.md: 1-5, 14, 16, 17) with its fault injected.
    drills)   run_stage drills bash -c "$PY -m benchmarks.loadkit quick --db sqlite && $PY -m benchmarks.loadkit quick --db postgres && $PY -m benchmarks.loadkit drill all --quick" ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
echo "==> stage times:"; printf '    %s\n' "${STAGE_TIMES[@]}"
exit $failed
