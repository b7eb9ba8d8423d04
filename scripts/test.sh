#!/usr/bin/env bash
# Runs every test: the suite on SQLite, the suite on PostgreSQL (a fresh database), and the browser
# tests in Chromium. Prints each stage's time. Usage: scripts/test.sh [sqlite|postgres|browser|all]...
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
PG_URL=${TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/yingcai_test}
WORKERS=${PYTEST_WORKERS:-2}   # pytest-xdist workers (each with its own database)
stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(all)
[ "${stages[0]}" = "all" ] && stages=(sqlite postgres browser)

failed=0
run_stage() {
  local name=$1; shift
  local start=$(date +%s)
  echo "==> stage $name"
  "$@"
  local rc=$?
  # pytest exit 5 = no tests collected: that is a failure here, never a silent pass.
  local took=$(( $(date +%s) - start ))
  echo "==> stage $name: exit $rc, ${took}s"
  [ $rc -ne 0 ] && failed=1
  STAGE_TIMES+=("$name ${took}s (exit $rc)")
}
STAGE_TIMES=()
for stage in "${stages[@]}"; do
  case "$stage" in
    sqlite)   run_stage sqlite env -u TEST_DATABASE_URL $PY -m pytest -q -n "$WORKERS" --ignore=tests/browser ;;
    postgres) run_stage postgres env TEST_DATABASE_URL="$PG_URL" $PY -m pytest -q -n "$WORKERS" --ignore=tests/browser ;;
    browser)  run_stage browser env REQUIRE_E2E=${REQUIRE_E2E:-1} $PY -m pytest -q tests/browser ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
echo "==> stage times:"; printf '    %s\n' "${STAGE_TIMES[@]}"
exit $failed
