"""``flask privacy``: purge a round's personal data after retention; rotate national-ID keys."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.extensions import db
from app.models import SelectionRound
from app.services import privacy

group = click.Group("privacy", help="个人信息保护 / Personal data protection.")


@group.command("purge")
@click.argument("round_ref")
@click.option("--force", is_flag=True, help="保留期未满也执行 / purge before the retention period ends")
@with_appcontext
def purge(round_ref: str, force: bool) -> None:
    """Anonymize the personal fields of a round's students (ROUND is its id or name); idempotent, audited."""
    query = select(SelectionRound).where(SelectionRound.name == round_ref)
    selection_round = db.session.scalar(query)
    if selection_round is None and round_ref.isdigit():
        selection_round = db.session.get(SelectionRound, int(round_ref))
    if selection_round is None:
        fail(f"找不到选拔轮次：{round_ref}", f"no selection round {round_ref}")
    try:
        count = privacy.purge_round(db.session, selection_round, actor=cli_actor(), now=utcnow(), force=force)
    except privacy.PrivacyError as exc:
        db.session.rollback()
        fail(exc.zh, exc.en)
    db.session.commit()
    click.echo(f"已匿名化 {count} 名考生 / anonymized {count} student(s) of {selection_round.name}")


@group.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """Re-encrypt every national ID with the first key of ID_ENCRYPTION_KEYS (then drop the old key)."""
    count = privacy.rotate_keys(db.session, keys=current_app.config["ID_ENCRYPTION_KEYS"], actor=cli_actor(),
                                now=utcnow())
    db.session.commit()
    click.echo(f"已用新密钥重新加密 {count} 个身份证号 / re-encrypted {count} national ID(s) with the newest key")
