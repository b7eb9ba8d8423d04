#!/usr/bin/env bash
# Restore drill: restore a dump into a scratch database, check the schema is at the migrations' head,
# and run `flask rankings verify` for every published exam. Exit 0 only if all of that passes.
# Usage: scripts/restore_drill.sh DUMPFILE [ADMIN_URL]   (ADMIN_URL default postgresql://postgres@127.0.0.1:5432/postgres)
# The scratch database is yingcai_restore_drill (RESTORE_DB), dropped first and, unless KEEP=1, afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
dump=${1:?usage: scripts/restore_drill.sh DUMPFILE [ADMIN_URL]}
admin=${2:-postgresql://postgres@127.0.0.1:5432/postgres}
name=${RESTORE_DB:-yingcai_restore_drill}
url="${admin%/*}/$name"
FLASK=${FLASK:-.venv/bin/flask}
[ -x "$FLASK" ] || FLASK=flask
t0=$(date +%s)
psql -q "$admin" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\""
pg_restore --no-owner --exit-on-error --dbname="$url" "$dump"
echo "restored $(basename "$dump") into $name in $(( $(date +%s) - t0 )) s"
export DATABASE_URL="${url/postgresql:/postgresql+psycopg:}" FLASK_APP=wsgi
export SECRET_KEY=${SECRET_KEY:-restore-drill-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
current=$("$FLASK" db current 2>/dev/null | tail -1)
heads=$("$FLASK" db heads 2>/dev/null | tail -1)
echo "schema: $current (head: $heads)"
[ "${current%% *}" = "${heads%% *}" ] || { echo "restored schema is not at the head revision"; exit 1; }
exams=$(psql -At "$url" -c "SELECT DISTINCT exam_id FROM result_snapshots ORDER BY 1")
[ -n "$exams" ] || echo "no published results in this dump: nothing to verify"
rc=0
for exam in $exams; do
  echo "== flask rankings verify $exam"
  "$FLASK" rankings verify "$exam" || rc=1
done
psql -At "$url" -c "SELECT 'attempts', count(*) FROM attempts UNION ALL SELECT 'responses', count(*) FROM responses"
[ "${KEEP:-0}" = 1 ] || psql -q "$admin" -c "DROP DATABASE \"$name\" WITH (FORCE)"
echo "restore drill $([ $rc = 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - t0 )) s"
exit $rc
