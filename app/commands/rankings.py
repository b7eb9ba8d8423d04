"""``flask rankings``: compute, select, publish, export and verify an exam's results; regrade; absentees."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.extensions import db
from app.models import Exam, ExamQuestion, Regrade
from app.services import exports, publication, rankings, regrade, selection_service, voiding
from app.services.rankings import ResultsError

group = click.Group("rankings", help="排名、入围与成绩发布 / Rankings, selection and published results.")


def _exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None:
        fail(f"没有考试 {exam_id}", f"no exam {exam_id}")
    return exam


def _refused(exc: ResultsError) -> None:
    db.session.rollback()
    fail(exc.zh, exc.en)


@group.command("compute")
@click.argument("exam_id", type=int)
@with_appcontext
def compute(exam_id: int) -> None:
    """Rank every attempt (overall, per league, per school) and store the result."""
    exam = _exam(exam_id)
    run = rankings.compute(db.session, exam, now=utcnow(), actor=cli_actor())
    db.session.commit()
    click.echo(f"排名已计算 / ranking computed: run {run.id}, {run.ranked_count} ranked of {run.row_count} attempts"
               + (f", {run.pending_manual} awaiting manual grading" if run.pending_manual else ""))


@group.command("show")
@click.argument("exam_id", type=int)
@click.option("--league", default=None, help="League code (盟市代码).")
@click.option("--limit", default=20, show_default=True)
@with_appcontext
def show(exam_id: int, league: str | None, limit: int) -> None:
    """Print the top of the stored ranking."""
    exam = _exam(exam_id)
    run = rankings.current_run(db.session, exam.id)
    if run is None:
        fail("尚未计算排名", "the ranking has not been computed")
    click.echo("rank\tleague\tschool\texam_number\ttotal\tpercentile\tstatus")
    for row in rankings.stored_rows(db.session, run.id, league=league)[:limit]:
        click.echo(f"{row.rank or '-'}{'=' if row.tied else ''}\t{row.league_rank or '-'}\t{row.school_rank or '-'}\t"
                   f"{row.exam_number}\t{row.total if row.total is not None else '-'}\t"
                   f"{row.percentile if row.percentile is not None else '-'}\t{row.status}")


@group.command("select")
@click.argument("exam_id", type=int)
@click.option("--cutoff", type=float, required=True, help="分数线 / cut-off total.")
@click.option("--quota", type=int, required=True, help="总名额 / number of places.")
@click.option("--league-min", multiple=True, help="CODE=N: a league's minimum (repeatable).")
@click.option("--league-max", multiple=True, help="CODE=N: a league's maximum (repeatable).")
@click.option("--boundary-ties", type=click.Choice(["admit_all", "admit_none"]), default=None)
@click.option("--reserve", type=int, default=0, show_default=True, help="候补人数 / reserve list length.")
@click.option("--fix", "do_fix", is_flag=True, help="Fix the selection (otherwise a what-if preview).")
@with_appcontext
def select_command(exam_id: int, cutoff: float, quota: int, league_min: tuple[str, ...],
                   league_max: tuple[str, ...], boundary_ties: str | None, reserve: int, do_fix: bool) -> None:
    """Preview (what-if) or fix the selection of the exam's subject."""
    exam = _exam(exam_id)

    def pairs(values: tuple[str, ...]) -> dict[str, str]:
        result = {}
        for value in values:
            code, _, n = value.partition("=")
            result[code.strip()] = n.strip()
        return result

    try:
        rules = selection_service.parse_rules(
            {"cutoff": cutoff, "quota": quota, "reserve_count": reserve, "boundary_ties": boundary_ties,
             "league_min": pairs(league_min), "league_max": pairs(league_max)},
            default_ties=selection_service.default_boundary_ties(exam))
        if do_fix:
            rule = selection_service.fix(db.session, exam, rules, user_id=None, now=utcnow(), actor=cli_actor())
            db.session.commit()
            click.echo(f"入围名单已确定 / selection fixed: rule {rule.id}, {rule.admitted_count} admitted, "
                       f"{rule.reserve_total} reserve")
            return
        run = rankings.ensure_current(db.session, exam, now=utcnow(), actor=cli_actor())
        db.session.commit()
        result = selection_service.preview(db.session, exam, rules, run=run).result
    except ResultsError as exc:
        _refused(exc)
    click.echo(f"预览 / what-if: {len(result.admitted)} admitted, {len(result.reserve)} reserve")
    for league, count in sorted(result.league_admitted.items()):
        short = result.league_shortfall.get(league)
        click.echo(f"  {league}: {count}" + (f" (short of its minimum by {short})" if short else ""))


@group.command("publish")
@click.argument("exam_id", type=int)
@click.option("--public-list/--no-public-list", default=None, help="Publish a list with masked names.")
@click.option("--reason", default=None)
@with_appcontext
def publish(exam_id: int, public_list: bool | None, reason: str | None) -> None:
    """Publish the results: a snapshot version with the SHA-256 of its canonical CSV."""
    exam = _exam(exam_id)
    try:
        published = publication.publish(db.session, exam, user_id=None, now=utcnow(), actor=cli_actor(),
                                        reason=reason, public_list=public_list)
    except ResultsError as exc:
        _refused(exc)
    db.session.commit()
    snap = published.snapshot
    state = "已发布 / published" if published.new else "无变化，沿用 / unchanged, still"
    click.echo(f"{state} version {snap.version}: {snap.row_count} rows, sha256 {snap.sha256}")


@group.command("export")
@click.argument("exam_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), required=True)
@click.option("--league", default=None, help="Only this league (盟市代码).")
@with_appcontext
def export(exam_id: int, out: str, fmt: str, league: str | None) -> None:
    """Export the stored ranking to OUT as XLSX (overall + one sheet per league) or CSV (UTF-8 with BOM)."""
    exam = _exam(exam_id)
    try:
        count = exports.export_file(db.session, exam, fmt, out, league_code=league, now=utcnow(),
                                    timezone=current_app.config["TIMEZONE"])
    except ResultsError as exc:
        _refused(exc)
    click.echo(f"已导出 / exported {count} rows to {out}")


@group.command("verify")
@click.argument("exam_id", type=int)
@click.option("--version", type=int, default=None, help="A published version (default: the latest).")
@with_appcontext
def verify(exam_id: int, version: int | None) -> None:
    """Recompute from the stored data and compare with the published snapshot's hash (exit 1 on mismatch)."""
    exam = _exam(exam_id)
    try:
        report = publication.verify(db.session, exam, version=version)
    except ResultsError as exc:
        _refused(exc)
    click.echo(f"version {report.version} sha256 {report.sha256}")
    for label, ok in (("stored canonical CSV / 存档 CSV", report.text_ok),
                      ("stored ranking rows / 存档排名", report.stored_ok),
                      ("recomputed from scores / 由成绩重算", report.recomputed_ok)):
        click.echo(f"  {'OK  ' if ok else 'FAIL'} {label}")
    for difference in report.differences[:50]:
        fields = json.dumps(difference["fields"], ensure_ascii=False)
        click.echo(f"  {difference['source']}: {difference['exam_number']} {fields}")
    if not report.ok:
        click.echo("校验失败 / verification FAILED", err=True)
        raise SystemExit(1)
    click.echo("校验通过 / verified")


@group.command("regrade")
@click.argument("exam_id", type=int)
@click.option("--question", "question_id", type=int, help="Exam question id whose key is corrected.")
@click.option("--answer", "answer_json", help='The corrected key as JSON, e.g. \'"b"\' or \'["a","c"]\'.')
@click.option("--version-id", type=int, help="Pin this version of the question instead.")
@click.option("--section", "section_id", type=int, help="Section id whose policy changes.")
@click.option("--policy", default=None, help="The section's new scoring policy.")
@click.option("--reason", required=True)
@click.option("--apply", "plan_id", type=int, default=None, help="Apply this dry-run plan.")
@with_appcontext
def regrade_command(exam_id: int, question_id: int | None, answer_json: str | None, version_id: int | None,
                    section_id: int | None, policy: str | None, reason: str, plan_id: int | None) -> None:
    """Dry-run a corrected key or policy (lists what changes), or apply a plan with --apply PLAN."""
    exam = _exam(exam_id)
    now, actor = utcnow(), cli_actor()
    try:
        if plan_id is not None:
            plan = db.session.get(Regrade, plan_id)
            if plan is None or plan.exam_id != exam.id:
                fail(f"没有重新评分方案 {plan_id}", f"no regrade plan {plan_id}")
            regrade.apply(db.session, plan, user_id=None, now=now, actor=actor)
            db.session.commit()
            click.echo(f"已执行 / applied regrade {plan.id}: {len(plan.score_changes)} scores changed, "
                       f"{len(plan.rank_moves)} ranks moved")
            return
        changes = []
        if question_id is not None and answer_json is not None:
            try:
                answer = json.loads(answer_json)
            except json.JSONDecodeError:
                fail("--answer 不是有效的 JSON", "--answer is not valid JSON")
            version = regrade.correct_key(db.session, exam, question_id, answer, user_id=None, now=now, actor=actor)
            changes.append({"kind": "version", "exam_question_id": question_id, "version_id": version.id})
        elif question_id is not None and version_id is not None:
            changes.append({"kind": "version", "exam_question_id": question_id, "version_id": version_id})
        if section_id is not None:
            changes.append({"kind": "policy", "section_id": section_id, "policy": policy, "policy_params": {}})
        plan = regrade.dry_run(db.session, exam, changes, reason=reason, user_id=None, now=now, actor=actor)
    except ResultsError as exc:
        _refused(exc)
    db.session.commit()
    click.echo(f"预览 / dry run {plan.id}: {plan.attempts_checked} attempts checked, "
               f"{len(plan.score_changes)} scores change, {len(plan.rank_moves)} ranks move")
    for attempt_id, old, new in plan.score_changes[:30]:
        click.echo(f"  attempt {attempt_id}: {old} -> {new}")
    click.echo(f"执行 / apply: flask rankings regrade {exam.id} --reason ... --apply {plan.id}")


@group.command("questions")
@click.argument("exam_id", type=int)
@with_appcontext
def questions(exam_id: int) -> None:
    """List the exam's pinned questions (ids for --question) with their keys."""
    exam = _exam(exam_id)
    for pinned in db.session.scalars(select(ExamQuestion).where(ExamQuestion.exam_id == exam.id)
                                     .order_by(ExamQuestion.section_id, ExamQuestion.position)):
        content = pinned.version.content
        click.echo(f"{pinned.id}\tsection {pinned.section_id}\t{content['key']}\t{content['type']}\t"
                   f"v{pinned.version.number}\tanswer={json.dumps(content.get('answer'), ensure_ascii=False)}")


@group.command("absent")
@click.argument("exam_id", type=int)
@with_appcontext
def absent(exam_id: int) -> None:
    """Mark every registered student without an attempt absent (after the last start time)."""
    exam = _exam(exam_id)
    try:
        count = voiding.mark_all_absent(db.session, exam, now=utcnow(), actor=cli_actor())
    except ResultsError as exc:
        _refused(exc)
    db.session.commit()
    click.echo(f"已标记缺考 / marked absent: {count}")
