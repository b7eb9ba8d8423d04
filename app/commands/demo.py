"""``flask demo``: an idempotent demonstration data set (schools, one account per role, students)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.clock import utcnow
from app.commands.context import cli_actor
from app.extensions import db
from app.models import League, School, User
from app.security import write_demo_secrets
from app.services import accounts, students

DEMO_PASSWORD = "yingcai-demo-2026"
SCHOOL_SUFFIXES = ("第一中学", "第二中学", "实验中学")
STAFF = [
    # login, role, display name, league, subjects
    ("admin", "admin", "全区管理员（演示）", None, []),
    ("hohhot_admin", "league_admin", "呼和浩特市管理员（演示）", "150100", []),
    ("baotou_admin", "league_admin", "包头市管理员（演示）", "150200", []),
    ("teacher_math", "teacher", "数学教师（演示）", None, ["math"]),
    ("teacher_physics", "teacher", "物理教师（演示）", None, ["physics"]),
    ("teacher_chemistry", "teacher", "化学教师（演示）", None, ["chemistry"]),
    ("teacher_biology", "teacher", "生物教师（演示）", None, ["biology"]),
    ("teacher_cs", "teacher", "信息学教师（演示）", None, ["cs"]),
    ("reviewer", "teacher", "审题教师（演示）", None, ["math", "physics", "chemistry", "biology", "cs"]),
    ("proctor1", "proctor", "监考老师（演示）", None, []),
]
STUDENT_NAMES = ["张晓彤", "巴特尔", "乌云其其格", "李明轩", "王思远", "其木格·娜仁", "刘子涵", "赵一鸣",
                 "孟和巴雅尔", "陈雨桐", "高俊杰", "苏日娜"]
SUBJECT_CYCLE = ["physics", "math", "chemistry", "biology", "cs"]


def ensure_schools(session) -> dict[str, list[School]]:
    """Three schools per league (created once)."""
    result: dict[str, list[School]] = {}
    for league in session.scalars(select(League).order_by(League.code)):
        city = league.name_zh.removesuffix("市")
        rows = []
        for suffix in SCHOOL_SUFFIXES:
            name = f"{city}{suffix}"
            school = session.scalar(select(School).where(School.league_code == league.code, School.name == name))
            if school is None:
                school = School(name=name, league_code=league.code)
                session.add(school)
            rows.append(school)
        result[league.code] = rows
    session.flush()
    return result


def ensure_accounts(session, schools: dict[str, list[School]], hash_params) -> list[tuple[str, str, str]]:
    """The demo's staff and students; existing accounts get the demo password back."""
    now, actor = utcnow(), cli_actor()
    printed = []
    for login, role, name, league, subjects in STAFF:
        user = session.scalar(select(User).where(User.login_name == login))
        if user is None:
            accounts.create_user(session, login_name=login, role=role, password=DEMO_PASSWORD, now=now,
                                 actor=actor, display_name=name, league_code=league, subjects=subjects,
                                 hash_params=hash_params)
        printed.append((role, login, name))
    id_keys = students.IdKeys(current_app.config["ID_ENCRYPTION_KEYS"], current_app.config["ID_HASH_KEY"])
    league_codes = sorted(schools)
    for i, name in enumerate(STUDENT_NAMES):
        league = league_codes[i % len(league_codes)]
        exam_number = f"2026{league}{i + 1:03d}"
        user = session.scalar(select(User).where(User.login_name == exam_number))
        if user is None:
            students.create_student(
                session,
                students.StudentInput(exam_number=exam_number, name=name, school_id=schools[league][i % 3].id,
                                      subject_code=SUBJECT_CYCLE[i % len(SUBJECT_CYCLE)],
                                      gender="F" if i % 2 else "M", grade="高一" if i % 3 else "高二"),
                password=DEMO_PASSWORD, now=now, actor=actor, id_keys=id_keys, hash_params=hash_params)
        printed.append(("student", exam_number, name))
    return printed


ROUND_NAME = "2026 英才计划选拔在线测试（演示）"
SECTION_PLAN = [  # (section name, type, count wanted, policy)
    ("一、单项选择题", "single", 8, None),
    ("二、多项选择题", "multiple", 4, "gaokao_partial"),
    ("三、判断题", "true_false", 3, None),
    ("四、填空题", "fill_blank", 3, None),
    ("五、排序与匹配", "ordering", 1, None),
    ("五、排序与匹配", "matching", 1, None),
    ("六、材料与简答", "group", 1, None),
    ("六、材料与简答", "short_answer", 1, None),
]


def ensure_banks(session) -> int:
    """Import the shipped sample banks (question_bank/), approved; unchanged questions are left alone."""
    from pathlib import Path

    from app.commands.bank import collect
    from app.services import bank_import

    root = Path(current_app.root_path).parent / "question_bank"
    created = 0
    for files in collect((str(root),)):
        parsed, name = bank_import.parse_files(files, subject=None)
        if parsed.issues:
            raise click.ClickException("; ".join(i.message("en") for i in parsed.issues[:5]))
        report = bank_import.import_bank(session, parsed, actor=cli_actor(), author_id=None, now=utcnow(),
                                         approve=True, format_name=name)
        created += len(report.created)
    return created


def demo_exam_spec(session, subject: str, *, kind: str, now) -> dict:
    """A blueprint exam over whatever the subject's approved bank holds, open from now for a week."""
    from datetime import timedelta

    from app.models import Subject
    from app.services import exam_authoring

    sections: dict[str, dict] = {}
    for name, qtype, wanted, policy in SECTION_PLAN:
        available = exam_authoring.blueprint_availability(session, subject, [{"type": qtype, "count": 0}])[0]
        count = min(wanted, available)
        if count == 0:
            continue
        section = sections.setdefault(name, {"name": name, "blueprint": []})
        if policy:
            section["policy"] = policy
        section["blueprint"].append({"type": qtype, "difficulty": [1, 5], "count": count})
    title = f"2026 年{session.get(Subject, subject).name_zh}学科潜质测试" + ("（练习）" if kind == "practice" else "")
    return {"round": ROUND_NAME if kind == "selection" else None, "subject": subject, "title": title, "kind": kind,
            "opens_at": (now - timedelta(minutes=5)).isoformat(), "closes_at": (now + timedelta(days=7)).isoformat(),
            "instructions": "本测试为演示考试，题目由题库按抽题规则抽取。请独立完成，计算题可使用草稿纸。",
            "tie_breaks": ["fewer_wrong"], "sections": list(sections.values()), "publish": True}


def ensure_exams(session) -> list[str]:
    """One selection exam per subject and a physics practice exam, open now (created once)."""
    from sqlalchemy import select as _select

    from app.models import Exam
    from app.services import exam_authoring

    now = utcnow()
    lines = []
    plans = [(s, "selection") for s in ("math", "physics", "chemistry", "biology", "cs")] + [("physics", "practice")]
    for subject, kind in plans:
        spec = demo_exam_spec(session, subject, kind=kind, now=now)
        if not spec["sections"]:
            continue
        exam = session.scalar(_select(Exam).where(Exam.title == spec["title"]))
        if exam is None:
            exam = exam_authoring.create_exam(session, spec, actor=cli_actor(), creator_id=None, now=now)
        lines.append(f"  {exam.id:3d} {exam.kind:9s} {exam.title}")
    return lines


@click.command("demo", help="载入演示数据（可重复执行）/ Load the demonstration data (idempotent).")
@click.option("--simulate", type=click.IntRange(min=0), default=0, metavar="N",
              help="另模拟 N 名考生完成物理演示考试 / also simulate N students sitting the physics demo exam.")
@click.option("--simulate-live", type=click.IntRange(min=0), default=0, metavar="N",
              help="在后台启动 N 名模拟考生参加开放中的考试（用于演示实时监控）/ start N simulated students "
                   "taking the open exam in the background (for the live monitor).")
@with_appcontext
def command(simulate: int, simulate_live: int) -> None:
    """Load schools, demo accounts and students; print the accounts with their password."""
    import json

    with open(write_demo_secrets(current_app.instance_path), encoding="utf-8") as fh:
        for key, value in json.load(fh).items():
            current_app.config[key] = current_app.config.get(key) or value
    cfg = current_app.config
    hash_params = accounts.HashParams(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"])
    schools = ensure_schools(db.session)
    printed = ensure_accounts(db.session, schools, hash_params)
    db.session.commit()
    created = ensure_banks(db.session)
    db.session.commit()
    exams = ensure_exams(db.session)
    db.session.commit()
    click.echo(f"题库 / banks: {created} new questions imported (approved)")
    click.echo("考试（已开放）/ exams open now:")
    for line in exams:
        click.echo(line)
    click.echo("演示账号 / Demo accounts (password for all: %s)" % DEMO_PASSWORD)
    for role, login, name in printed:
        click.echo(f"  {role:13s} {login:18s} {name}")
    if simulate:
        from app.services import simulation

        for line in simulation.demo(db.session, simulate, password=DEMO_PASSWORD, hash_params=hash_params,
                                    echo=click.echo):
            click.echo(line)
    if simulate_live:
        from app.services import live_sim

        pid, log = live_sim.launch(simulate_live, instance_path=current_app.instance_path)
        click.echo(f"已在后台启动 {simulate_live} 名模拟考生（进程 {pid}，日志 {log}）/ "
                   f"{simulate_live} simulated students started in the background (pid {pid}, log {log})")
