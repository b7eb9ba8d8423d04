"""What every command needs: the session, the clock and a CLI actor for the audit log."""
from __future__ import annotations

import getpass
import sys

import click

from app.services.audit import Actor


def cli_actor() -> Actor:
    """The operator running a command, as the audit log records it."""
    try:
        who = getpass.getuser()
    except Exception:  # no login name in some containers
        who = "unknown"
    return Actor(None, f"cli:{who}", "local")


def fail(zh: str, en: str, code: int = 1) -> None:
    """Print a refusal in Chinese and English and exit non-zero."""
    click.echo(f"错误：{zh}\nError: {en}", err=True)
    sys.exit(code)
