"""The one place that registers the command groups of ``flask``."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Attach each domain's command group (``flask db`` comes from Flask-Migrate)."""
    from app.commands import analysis, bank, demo, exams, jobs, privacy, rankings, students, users

    for group in (users.group, students.group, bank.group, exams.exams_group, exams.attempts_group,
                  rankings.group, analysis.group, privacy.group, jobs.group, demo.command):
        app.cli.add_command(group)
