#!/usr/bin/env bash
# PostgreSQL backup: pg_dump (custom format) of DATABASE_URL into BACKUP_DIR, checked, pruned by age.
# Usage: DATABASE_URL=postgresql://user@host/db scripts/backup.sh [BACKUP_DIR]
# Cron: */15 * * * * on exam days, 17 * * * * otherwise (docs/runbook.md). Copy BACKUP_DIR off the host.
set -euo pipefail
url=${DATABASE_URL:?DATABASE_URL is required}
url=${url/postgresql+psycopg:/postgresql:}
dir=${1:-${BACKUP_DIR:-/var/backups/yingcai}}
keep_days=${BACKUP_KEEP_DAYS:-14}
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
tmp="$dir/.yingcai-$stamp.dump.partial"
out="$dir/yingcai-$stamp.dump"
# --serializable-deferrable: a consistent snapshot that never blocks or aborts the exam's writers.
pg_dump --format=custom --compress=6 --no-owner --serializable-deferrable --file="$tmp" "$url"
pg_restore --list "$tmp" > /dev/null          # a dump that cannot be listed is not a backup
mv "$tmp" "$out"
find "$dir" -name 'yingcai-*.dump' -mtime +"$keep_days" -delete
echo "$out $(du -h "$out" | cut -f1)"
