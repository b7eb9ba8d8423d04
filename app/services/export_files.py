"""Files written by background exports: they hold minors' personal data, so they are kept only for a while.

A large export runs as a job and leaves its file in ``<instance>/exports`` for its requester to
download. The job worker deletes files older than ``EXPORT_FILE_HOURS`` (24 by default) every few
minutes, and ``flask jobs prune-exports`` does the same on demand; the job's page then says the file
was deleted and asks for a new export. Only regular files directly in that folder are touched.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta


def directory(instance_path: str) -> str:
    """Where export jobs write their files."""
    return os.path.join(instance_path, "exports")


def prune(folder: str, *, now: datetime, keep: timedelta) -> int:
    """Delete the export files in ``folder`` last modified before ``now - keep``; return how many."""
    if not os.path.isdir(folder):
        return 0
    cutoff = (now - keep).timestamp()
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # another worker removed it first
                continue
    return removed
