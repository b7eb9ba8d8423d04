"""``flask students``: import students from XLSX/CSV (all or nothing), write the template, print slips."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from app.clock import utcnow
from app.commands.context import cli_actor, fail
from app.domain import student_file
from app.extensions import db
from app.services import credentials, student_import
from app.services.accounts import HashParams
from app.services.students import IdKeys

group = click.Group("students", help="考生 / Students: import, template, login slips.")


def _hash_params() -> HashParams:
    cfg = current_app.config
    return HashParams(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"])


def _id_keys() -> IdKeys:
    return IdKeys(current_app.config["ID_ENCRYPTION_KEYS"], current_app.config["ID_HASH_KEY"])


def print_plan(plan: student_import.Plan) -> None:
    """Every problem with its spreadsheet row and field (stderr), then the notes."""
    for issue in plan.issues:
        where = f"第 {issue.row} 行 row {issue.row}" if issue.row else "文件 file"
        click.echo(f"  - {where} [{issue.field_zh}/{issue.field_en}] {issue.code}: {issue.zh} / {issue.en}", err=True)
    for note in plan.parsed.notes:
        click.echo(f"  * {note}")


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查，不写入 / check only, write nothing")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"]), help="CSV 编码（默认自动识别）/ CSV encoding")
@click.option("--pattern", default=student_file.DEFAULT_PATTERN, show_default=True,
              help="准考证号生成规则 / exam-number pattern: {year} {league} {seq:04d}")
@click.option("--year", type=int, default=lambda: utcnow().year, help="编号年份 / year in generated numbers")
@click.option("--create-schools", is_flag=True, help="确认新建文件中的新学校 / confirm creating new schools")
@click.option("--league", "league_scope", help="只允许该盟市 / accept only this league's rows")
@click.option("--passwords-out", type=click.Path(dir_okay=False),
              help="把初始密码写入此 CSV（仅此一次）/ write the initial passwords to this CSV (once)")
@with_appcontext
def import_command(path: str, dry_run: bool, encoding: str | None, pattern: str, year: int, create_schools: bool,
                   league_scope: str | None, passwords_out: str | None) -> None:
    """Check the whole file, then import all or nothing; non-zero exit when anything is refused."""
    options = student_import.Options(filename=os.path.basename(path), encoding=encoding, pattern=pattern, year=year,
                                     create_schools=create_schools, league_scope=league_scope)
    plan = student_import.check(db.session, Path(path).read_bytes(), options, id_keys=_id_keys())
    summary = plan.summary()
    if not plan.ok:
        db.session.rollback()
        click.echo(f"导入被拒绝：共 {len(plan.issues)} 处问题，未写入任何内容 / import refused: "
                   f"{len(plan.issues)} problem(s), nothing written", err=True)
        print_plan(plan)
        if plan.error is not None and plan.error.code.startswith("encoding"):
            click.echo("请用 --encoding gbk 或 --encoding utf-8 指明编码 / name the encoding with --encoding gbk|utf-8",
                       err=True)
        raise SystemExit(1)
    print_plan(plan)
    click.echo(f"文件有效：{summary['valid']} 名考生（编码 {summary['encoding'] or 'xlsx'}），新学校 {summary['new_schools']}，"
               f"新考场 {summary['new_rooms']}，生成准考证号 {summary['generated_numbers']} / valid: {summary['valid']} "
               f"students, {summary['new_schools']} new schools, {summary['new_rooms']} new rooms, "
               f"{summary['generated_numbers']} generated exam numbers")
    if plan.parsed.new_schools and not create_schools:
        db.session.rollback()
        click.echo("文件含新学校，确认后请加 --create-schools 重新执行 / the file names new schools: "
                   "run again with --create-schools to confirm", err=True)
        raise SystemExit(1 if not dry_run else 0)
    if dry_run:
        db.session.rollback()
        click.echo("（试运行，未写入）/ (dry run: nothing written)")
        return

    def progress(done: int, total: int | None = None, message: str | None = None) -> None:
        if message and (done == 0 or done == total):
            click.echo(f"  {message}", err=True)

    try:
        result = student_import.execute(db.session, plan, options, actor=cli_actor(), now=utcnow(),
                                        id_keys=_id_keys(), hash_params=_hash_params(),
                                        secret_key=current_app.config["SECRET_KEY"], progress=progress)
    except (SQLAlchemyError, ValueError) as exc:
        db.session.rollback()
        fail(f"导入失败，未写入任何内容：{exc}", f"import failed, nothing written: {exc}")
    batch = db.session.get(credentials.CredentialBatch, result["batch_id"])
    if passwords_out:
        passwords = credentials.reveal_once(db.session, batch, now=utcnow(), secret_key=current_app.config["SECRET_KEY"])
        from app.models import User

        fd = os.open(passwords_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["准考证号", "姓名", "初始密码"])
            for user_id, password in sorted(passwords.items()):
                user = db.session.get(User, user_id)
                writer.writerow([user.login_name, user.display_name, password])
    db.session.commit()
    click.echo(f"已导入 {result['created']} 名考生（新学校 {result['schools_created']}，新考场 {result['rooms_created']}）/ "
               f"imported {result['created']} students; password batch {result['batch_id']} "
               f"kept for slips until {result['expires_at']}")
    if passwords_out:
        click.echo(f"初始密码已写入 {passwords_out}（仅此一次）/ initial passwords written to {passwords_out} (once)")


@group.command("template")
@click.argument("out", type=click.Path(dir_okay=False))
def template_command(out: str) -> None:
    """Write the import template (.xlsx or .csv by the file's extension)."""
    data = student_file.template_csv() if out.lower().endswith(".csv") else student_file.template_xlsx()
    Path(out).write_bytes(data)
    click.echo(f"已写入模板 / template written: {out}")


@group.command("slips")
@click.option("--batch", "batch_id", type=int, required=True, help="密码批次 / password batch id")
@click.option("--school", "school_id", type=int, help="只打印该学校 / one school only")
@click.option("--room", "room_id", type=int, help="只打印该考场 / one room only")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="考生登录网址 / login URL")
@click.argument("out", type=click.Path(dir_okay=False))
@with_appcontext
def slips_command(batch_id: int, school_id: int | None, room_id: int | None, base_url: str, out: str) -> None:
    """Write the login slips PDF of a live password batch (audited)."""
    from app.services import slips

    try:
        pdf, count = slips.pdf_for_batch(db.session, batch_id=batch_id, school_id=school_id, room_id=room_id,
                                         base_url=base_url, now=utcnow(), actor=cli_actor(),
                                         secret_key=current_app.config["SECRET_KEY"])
    except (credentials.BatchUnavailable, slips.SlipError) as exc:
        db.session.rollback()
        fail(exc.zh, exc.en)
    db.session.commit()
    Path(out).write_bytes(pdf)
    click.echo(f"已生成 {count} 张准考证 / {count} slips written to {out} ({len(pdf)} bytes)")


SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["晓彤", "明轩", "思远", "子涵", "一鸣", "雨桐", "俊杰", "欣怡", "浩然", "梓萱"]
MONGOLIAN = ["巴特尔", "乌云其其格", "其木格·娜仁", "孟和巴雅尔", "苏日娜", "额尔敦"]
SUBJECTS_ZH = ["数学", "物理", "化学", "生物", "计算机"]


@group.command("sample")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--rows", type=click.IntRange(1, 20000), default=500, show_default=True)
@click.option("--bad", type=click.IntRange(0, 100), default=0, help="故意出错的行数 / rows with a deliberate mistake")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"]), default="gbk", show_default=True)
@click.option("--seed", type=int, default=2026)
@with_appcontext
def sample_command(out: str, rows: int, bad: int, encoding: str, seed: int) -> None:
    """Write a demonstration student file (CSV) over the existing leagues, with ``--bad`` broken rows."""
    import random

    from sqlalchemy import select

    from app.domain.national_id import check_digit
    from app.models import League

    rng = random.Random(seed)
    leagues = db.session.execute(select(League.code, League.name_zh)).all()
    table = [list(student_file.TEMPLATE_HEADERS)]
    for i in range(rows):
        code, league = leagues[i % len(leagues)]
        city = league.removesuffix("市")
        name = rng.choice(MONGOLIAN) if rng.random() < 0.2 else rng.choice(SURNAMES) + rng.choice(GIVEN)
        first17 = f"{code}{2009 + i % 2}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
        nid = first17 + check_digit(first17) if i % 3 == 0 else ""
        school = f"{city}{['第一中学', '第二中学', '实验中学'][i % 3]}"
        table.append(["", name, "男" if i % 2 else "女", school, "高一" if i % 4 else "高二", league if i % 2 else code,
                      SUBJECTS_ZH[i % 5], nid, f"第{1 + (i // 36) % 2}考场" if i % 6 == 0 else "", ""])
    wrong_check = "0" if check_digit("15010220090101123") != "0" else "1"
    mistakes = [(5, "盟市", "火星市"), (1, "姓名", ""), (7, "身份证号", "15010220090101123" + wrong_check),
                (6, "学科", "天文"), (0, "准考证号", "DUP00001")]
    for k in range(bad):
        row = table[1 + (k * 97 + 50) % rows]
        col, _label, value = mistakes[k % len(mistakes)]
        row[col] = value
        if col == 0:  # a duplicate needs two rows with the number
            table[1 + (k * 97 + 51) % rows][0] = value
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    Path(out).write_bytes(buffer.getvalue().encode("gb18030" if encoding == "gbk" else "utf-8-sig"))
    click.echo(f"已写入 {rows} 行（{bad} 行有错）/ wrote {rows} rows ({bad} with mistakes) to {out} ({encoding})")
