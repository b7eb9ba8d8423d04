"""The one place that registers the command groups of ``flask``."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Attach each domain's command group (``flask db`` comes from Flask-Migrate)."""
    from app.commands import analysis, bank, demo, exams, jobs, privacy, students, users
    from app.commands import rankings

    for group in (users.group, bank.group, exams.exams_group, exams.attempts_group, jobs.group, demo.command,
                  students.group, privacy.group, analysis.group):
        app.cli.add_command(group)
    app.cli.add_command(rankings.group)
