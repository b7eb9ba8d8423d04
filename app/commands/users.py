"""``flask users``: create staff accounts from the command line."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.extensions import db
from app.models import ROLES
from app.services import accounts

group = click.Group("users", help="用户管理 / Manage user accounts.")


def _read_password() -> str:
    """From stdin when piped (automation), else an interactive prompt with confirmation."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("密码 / Password", hide_input=True, confirmation_prompt=True)


@group.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="admin, league_admin, teacher, proctor, student")
@click.option("--league", "league_code", help="盟市代码 / league division code (league admins)")
@click.option("--subject", "subjects", multiple=True, help="学科 / subject (teachers; repeatable)")
@click.option("--name", "display_name", help="显示名 / display name")
@with_appcontext
def create(username: str, role: str, league_code: str | None, subjects: tuple[str, ...],
           display_name: str | None) -> None:
    """Create an account; the password comes from a prompt or standard input."""
    password = _read_password()
    cfg = current_app.config
    try:
        user = accounts.create_user(
            db.session, login_name=username, role=role, password=password, now=utcnow(), actor=cli_actor(),
            display_name=display_name, league_code=league_code, subjects=list(subjects),
            hash_params=accounts.HashParams(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"],
                                            cfg["ARGON2_PARALLELISM"]),
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        fail(exc.zh, exc.en)
    db.session.commit()
    click.echo(f"已创建 / created: {user.login_name} ({user.role}) id={user.id}")
