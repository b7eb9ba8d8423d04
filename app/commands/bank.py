"""``flask bank``: import, export and list question banks."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.domain.questions import SUBJECTS
from app.extensions import db
from app.models import Question
from app.services import bank_import

group = click.Group("bank", help="题库 / Question banks.")
IMPORTABLE = (".yaml", ".yml", ".xml", ".gift", ".txt", ".xlsx")


def collect(paths: tuple[str, ...]) -> list[dict[str, bytes]]:
    """Group the files to import: one group per folder of YAML files (with its images), one per other file."""
    groups: list[dict[str, bytes]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files = {path.name: path.read_bytes()}
            if path.suffix.lower() in (".yaml", ".yml"):
                files = {f"{path.parent.name}/{path.name}": path.read_bytes()}
                for image in (path.parent / "images").glob("*") if (path.parent / "images").is_dir() else []:
                    files[f"{path.parent.name}/images/{image.name}"] = image.read_bytes()
            groups.append(files)
            continue
        if not path.is_dir():
            fail(f"找不到 {raw}", f"{raw} does not exist")
        yaml_dirs: dict[Path, dict[str, bytes]] = {}
        for file in sorted(path.rglob("*")):
            if not file.is_file() or file.suffix.lower() not in IMPORTABLE and file.parent.name != "images":
                continue
            if file.parent.name == "images":
                owner = file.parent.parent
                yaml_dirs.setdefault(owner, {})[f"{owner.name}/images/{file.name}"] = file.read_bytes()
            elif file.suffix.lower() in (".yaml", ".yml"):
                yaml_dirs.setdefault(file.parent, {})[f"{file.parent.name}/{file.name}"] = file.read_bytes()
            else:
                groups.append({file.name: file.read_bytes()})
        groups.extend(files for files in yaml_dirs.values()
                      if any(n.endswith((".yaml", ".yml")) for n in files))
    return groups


def print_issue_list(title: str, issues, err: bool = True) -> None:
    """Every located problem, Chinese then English."""
    if not issues:
        return
    click.echo(title, err=err)
    for issue in issues:
        click.echo(f"  - {issue.location}: {issue.zh} / {issue.en}", err=err)


@group.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option("--subject", type=click.Choice(SUBJECTS), help="只接受该学科 / accept only this subject")
@click.option("--dry-run", is_flag=True, help="只检查，不写入 / check only, write nothing")
@click.option("--on-duplicate", type=click.Choice(["skip", "update"]), default="skip", show_default=True)
@click.option("--approve", is_flag=True, help="导入即审核通过（演示与迁移用）/ mark imported questions approved")
@with_appcontext
def import_command(paths: tuple[str, ...], subject: str | None, dry_run: bool, on_duplicate: str,
                   approve: bool) -> None:
    """Import files or folders (format by extension); all or nothing; non-zero exit if anything is refused."""
    parsed_groups, issues = [], []
    for files in collect(paths):
        parsed, name = bank_import.parse_files(files, subject=subject)
        issues.extend(parsed.issues)
        parsed_groups.append((parsed, name))
    if not issues:
        # Each group (one folder, or one file) resolves its images against itself; one transaction for all.
        reports = [bank_import.import_bank(db.session, parsed, actor=cli_actor(), author_id=None, now=utcnow(),
                                           dry_run=dry_run, on_duplicate=on_duplicate, approve=approve,
                                           format_name=name) for parsed, name in parsed_groups]
        issues = [i for r in reports for i in r.issues]
    if issues:
        db.session.rollback()
        print_issue_list(f"导入被拒绝，共 {len(issues)} 处问题，未写入任何内容 / "
                         f"import refused: {len(issues)} problem(s), nothing written", issues)
        raise SystemExit(1)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    print_issue_list("提示 / notes:", [n for r in reports for n in r.notes], err=False)
    c = {k: sum(r.counts()[k] for r in reports) for k in ("created", "updated", "unchanged", "duplicates")}
    prefix = "（试运行）将" if dry_run else "已"
    click.echo(f"{prefix}新增 {c['created']}、更新 {c['updated']}，未变 {c['unchanged']}，重复 {c['duplicates']} / "
               f"created {c['created']}, updated {c['updated']}, unchanged {c['unchanged']}, "
               f"duplicates {c['duplicates']} ({'skipped' if on_duplicate == 'skip' else 'updated'})"
               + (" (dry run: nothing written)" if dry_run else ""))
    for report in reports:
        for key, existing in report.duplicates:
            click.echo(f"  重复 duplicate: {key} = {existing}")


@group.command("export")
@click.option("--subject", type=click.Choice(SUBJECTS), required=True)
@click.option("--format", "format_name", default="yaml", show_default=True,
              type=click.Choice(["yaml", "moodle-xml", "gift", "xlsx"]))
@click.option("--include-retired", is_flag=True)
@click.argument("out")
@with_appcontext
def export_command(subject: str, format_name: str, include_retired: bool, out: str) -> None:
    """Write a subject's bank to OUT (a folder for YAML, a file otherwise)."""
    result = bank_import.export_bank(db.session, subject=subject, format_name=format_name,
                                     include_retired=include_retired)
    target = Path(out)
    if format_name == "yaml" or len(result.files) > 1:
        target.mkdir(parents=True, exist_ok=True)
        for rel, data in result.files.items():
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    else:
        target.parent.mkdir(parents=True, exist_ok=True) if target.parent != Path("") else None
        target.write_bytes(next(iter(result.files.values())) if result.files else b"")
    print_issue_list("以下试题该格式无法表达，未导出 / not expressible in this format, not exported:",
                     result.issues, err=False)
    click.echo(f"已写入 {len(result.files)} 个文件到 {out} / wrote {len(result.files)} file(s) to {out}")


@group.command("list")
@click.option("--subject", type=click.Choice(SUBJECTS))
@click.option("--status", type=click.Choice(["draft", "submitted", "approved", "retired"]))
@with_appcontext
def list_command(subject: str | None, status: str | None) -> None:
    """One question per line: id, subject, type, status, key and the start of the stem."""
    query = select(Question).order_by(Question.subject_code, Question.topic, Question.key)
    if subject:
        query = query.where(Question.subject_code == subject)
    if status:
        query = query.where(Question.status == status)
    for q in db.session.scalars(query):
        stem = " ".join(q.stem_plain.split())[:40]
        click.echo(f"{q.id}\t{q.subject_code}\t{q.type}\t{q.status}\t{q.key}\t{stem}")
