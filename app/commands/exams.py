"""``flask exams`` and ``flask attempts``: author exams from a spec file; the finalize sweep."""
from __future__ import annotations

import click
import yaml
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.extensions import db
from app.models import Attempt, Exam
from app.services import attempts, exam_authoring

exams_group = click.Group("exams", help="考试 / Exams.")
attempts_group = click.Group("attempts", help="作答 / Attempts.")


@exams_group.command("create")
@click.argument("spec", type=click.File("rb"))
@with_appcontext
def create(spec) -> None:
    """Create an exam from a YAML spec (see docs/exam-spec.example.yaml); `publish: true` publishes it."""
    try:
        data = yaml.safe_load(spec.read())
    except yaml.YAMLError as exc:
        fail(f"YAML 格式错误：{exc}", f"malformed YAML: {exc}")
    try:
        exam = exam_authoring.create_exam(db.session, data, actor=cli_actor(), creator_id=None, now=utcnow())
    except exam_authoring.ExamSpecError as exc:
        db.session.rollback()
        click.echo(f"考试定义有 {len(exc.issues)} 处问题，未创建 / the spec has {len(exc.issues)} problem(s); nothing created",
                   err=True)
        for issue in exc.issues:
            click.echo(f"  - {issue.location}: {issue.zh} / {issue.en}", err=True)
        raise SystemExit(1)
    db.session.commit()
    click.echo(f"{exam.id}\t{exam.subject_code}\t{exam.title}\t{exam.state}")


@exams_group.command("publish")
@click.argument("exam_id", type=int)
@with_appcontext
def publish(exam_id: int) -> None:
    """Publish a draft exam: draw its blueprint and pin question versions."""
    exam = db.session.get(Exam, exam_id)
    if exam is None:
        fail(f"没有考试 {exam_id}", f"no exam {exam_id}")
    try:
        exam_authoring.publish(db.session, exam, actor=cli_actor(), now=utcnow())
    except exam_authoring.ExamSpecError as exc:
        db.session.rollback()
        fail("；".join(i.zh for i in exc.issues), "; ".join(i.en for i in exc.issues))
    db.session.commit()
    click.echo(f"{exam.id}\t{exam.state}")


@exams_group.command("close")
@click.argument("exam_id", type=int)
@click.option("--reason", required=True, help="原因（记入审计日志）/ why (audited)")
@with_appcontext
def close(exam_id: int, reason: str) -> None:
    """End an exam's window now: no new starts; students writing keep their time. Publishing needs this."""
    from app.services import extensions

    exam = db.session.get(Exam, exam_id, with_for_update=True)
    if exam is None:
        fail(f"没有考试 {exam_id}", f"no exam {exam_id}")
    try:
        result = extensions.close_window(db.session, exam, reason=reason, actor=cli_actor(), now=utcnow())
    except attempts.AttemptError as exc:
        db.session.rollback()
        fail(exc.zh, exc.en)
    db.session.commit()
    click.echo(f"{exam.id}\tclosed\t{result['closes_at']}\tin_progress={result['in_progress']}")


@exams_group.command("list")
@with_appcontext
def list_exams() -> None:
    """One exam per line: id, subject, title, state, opens, closes, attempts."""
    counts = dict(db.session.execute(select(Attempt.exam_id, func.count()).group_by(Attempt.exam_id)).all())
    for exam in db.session.scalars(select(Exam).order_by(Exam.id)):
        click.echo(f"{exam.id}\t{exam.subject_code}\t{exam.title}\t{exam.state}\t{exam.kind}\t"
                   f"{exam.opens_at.isoformat()}\t{exam.closes_at.isoformat()}\t{counts.get(exam.id, 0)}")


@attempts_group.command("finalize-overdue")
@with_appcontext
def finalize_overdue() -> None:
    """Finalize attempts past deadline + grace (idempotent, safe in parallel; run it every minute)."""
    count = attempts.finalize_overdue(db.session, now=utcnow())
    db.session.commit()
    click.echo(f"已结束 {count} 份逾时作答 / finalized {count} overdue attempt(s)")
