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


@click.command("demo", help="载入演示数据（可重复执行）/ Load the demonstration data (idempotent).")
@with_appcontext
def command() -> None:
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
    click.echo("演示账号 / Demo accounts (password for all: %s)" % DEMO_PASSWORD)
    for role, login, name in printed:
        click.echo(f"  {role:13s} {login:18s} {name}")
