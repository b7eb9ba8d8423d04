"""``flask analysis``: the office's report, the bank write-back and a demonstration sitting."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.extensions import db
from app.models import Exam
from app.services import analysis

group = click.Group("analysis", help="试题分析 / Item analysis.")


def _exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or exam.state == "draft":
        fail(f"没有已发布的考试 {exam_id}", f"no published exam {exam_id}")
    return exam


@group.command("report")
@click.argument("exam_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--lang", type=click.Choice(["zh_CN", "en"]), default="zh_CN", show_default=True,
              help="报告语言 / language of the report.")
@with_appcontext
def report(exam_id: int, out: str, lang: str) -> None:
    """Write the exam's analysis report (XLSX: tables and charts) to OUT."""
    from app.analysis.present import league_names
    from app.analysis.report import build_xlsx

    exam = _exam(exam_id)
    with current_app.test_request_context(), force_locale(lang):
        result = analysis.analyse(db.session, exam)
        data = build_xlsx(result, league_names(db.session))
    Path(out).write_bytes(data)
    flagged = ", ".join(str(i.info.number) for i in result.flagged) or "-"
    click.echo(f"{out}\t{result.n_students} students\t{len(result.items)} items\tflagged: {flagged}")


@group.command("calibrate")
@click.argument("exam_id", type=int)
@with_appcontext
def calibrate(exam_id: int) -> None:
    """Write the exam's Rasch difficulties back to the bank (Question.measured_difficulty)."""
    exam = _exam(exam_id)
    result = analysis.analyse(db.session, exam)
    count = analysis.write_back_difficulties(db.session, exam, result, actor=cli_actor(), now=utcnow())
    db.session.commit()
    click.echo(f"已写回 {count} 道题的实测难度 / measured difficulty written back for {count} questions")


@group.command("simulate")
@click.argument("exam_id", type=int)
@click.option("--students", "n", type=click.IntRange(1, 20000), default=300, show_default=True)
@click.option("--seed", type=int, default=27, show_default=True)
@click.option("--wrong-key/--no-wrong-key", default=True, show_default=True,
              help="在一道单选题上埋入错误答案 / plant a wrong key on one single-choice question.")
@with_appcontext
def simulate(exam_id: int, n: int, seed: int, wrong_key: bool) -> None:
    """A demonstration sitting of EXAM by simulated students (see app/services/analysis_demo.py)."""
    import secrets

    from app.services import accounts, analysis_demo, students

    exam = _exam(exam_id)
    cfg = current_app.config
    result = analysis_demo.simulate_sitting(
        db.session, exam, n, now=utcnow(), seed=seed, wrong_key=wrong_key, actor=cli_actor(),
        id_keys=students.IdKeys(cfg["ID_ENCRYPTION_KEYS"], cfg["ID_HASH_KEY"]),
        # Simulated students get a random password nobody knows: they exist to be analysed, not to log in.
        hash_params=accounts.HashParams(1, 1024, 1), password=secrets.token_urlsafe(24))
    db.session.commit()
    click.echo(f"模拟作答 / simulated: {result.students} attempts on exam {result.exam_id}")
    if result.wrong_key_question:
        click.echo(f"埋入错误答案 / planted wrong key: {result.wrong_key_question} "
                   f"(strong students choose {result.wrong_key_option})")
    click.echo(f"查看 / see: /analysis/exams/{result.exam_id}")
