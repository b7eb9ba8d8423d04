"""A simulated sitting of the demo exam: N students over the 12 leagues, through the real services.

Each simulated student has an ability drawn from a normal distribution; each answer is right
with the probability of a two-parameter logistic model (ability against the question's
difficulty), so totals cluster and tie the way real ones do. Students pledge, start, open the
page, save answer by answer and submit (a few never submit and are finalized by the deadline
rule; a few are marked absent) with ``now`` in the past; short answers are graded by the subject's
teachers through the grading queue service. Nothing here bypasses a service rule.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import ranking
from app.models import Attempt, Exam, League, School, User
from app.services import attempts, audit, grading, papers, rankings, students, voiding
from app.services.accounts import HashParams

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林郑梁谢唐许冯宋韩邓彭曹曾田萧潘袁董于蒋蔡余杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "子涵浩宇欣怡梓轩雨桐一诺思远俊杰佳琪明轩晓彤可馨天佑嘉怡博文若曦宇航婉清泽宇雅琪书瑶梓萱皓然诗涵"
MONGOLIAN = ["巴特尔", "乌云其其格", "孟和巴雅尔", "苏日娜", "其木格", "额尔敦", "斯琴高娃", "朝鲁", "娜仁花", "宝音",
             "阿拉坦仓", "敖登", "哈斯", "萨仁", "图雅", "乌力吉"]
# Students per league roughly follow population: the cities send more than the leagues.
LEAGUE_WEIGHTS = {"150100": 16, "150200": 14, "150300": 3, "150400": 13, "150500": 10, "150600": 10, "150700": 8,
                  "150800": 6, "150900": 6, "152200": 5, "152500": 5, "152900": 2}
CHEAP = HashParams(1, 1024, 1)  # replaced by one real hash of the demo password (see simulate)


@dataclass
class SimulationReport:
    """What a simulation created."""

    exam_id: int
    students: int
    finalized: int
    absent: int
    timed_out: int
    graded: int
    distinct_totals: int
    tied_rows: int


def _name(rng: random.Random) -> str:
    if rng.random() < 0.18:
        return rng.choice(MONGOLIAN)
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _p_right(ability: float, difficulty: float) -> float:
    # 2PL item response: discrimination 1.7, difficulty 1..5 mapped to -1.8..1.8.
    return 1 / (1 + math.exp(-1.7 * (ability - (difficulty - 3) * 0.9)))


def answer(content: dict[str, Any], p: float, rng: random.Random) -> Any:
    """A canonical answer to a question that is right with probability ``p`` (None: left blank)."""
    qtype = content["type"]
    if qtype == "group":
        return {part["key"]: answer(part, p, rng) for part in content.get("parts") or ()}
    if rng.random() < 0.04 * (1.5 - p):
        return None
    right = rng.random() < p
    if qtype == "single":
        options = [o["id"] for o in content["options"]]
        return content["answer"] if right else rng.choice([o for o in options if o != content["answer"]] or options)
    if qtype == "multiple":
        correct = sorted(content["answer"])
        if right:
            return correct
        wrong = [o["id"] for o in content["options"] if o["id"] not in correct]
        if len(correct) > 1 and rng.random() < 0.5:
            return sorted(rng.sample(correct, rng.randint(1, len(correct) - 1)))
        return sorted(set(correct[:1] + rng.sample(wrong, 1))) if wrong else correct[:1]
    if qtype == "true_false":
        return bool(content["answer"]) if right else not content["answer"]
    if qtype == "fill_blank":
        texts = []
        for blank in content.get("blanks") or ():
            good = rng.random() < p
            if blank.get("answers"):
                texts.append(str(blank["answers"][0]) if good else "不会")
            else:
                texts.append(str(blank["numeric"]["value"]) if good else "-1")
        return texts
    if qtype == "ordering":
        order = list(content["answer"])
        if not right:
            while order == list(content["answer"]) and len(order) > 1:
                rng.shuffle(order)
        return order
    if qtype == "matching":
        pairs = dict(content["answer"])
        if not right and len(pairs) > 1:
            keys = list(pairs)
            a, b = rng.sample(keys, 2)
            pairs[a], pairs[b] = pairs[b], pairs[a]
        return pairs
    if qtype == "short_answer":
        return "（模拟作答）" + ("要点齐全，推理完整。" if right else "只写出部分要点。")
    return None


def _ensure_window(session: Session, exam: Exam, now: datetime, actor: audit.Actor) -> None:
    """Move the demo exam's opening back far enough that whole sittings lie in the past (audited)."""
    earliest = now - timedelta(minutes=exam.duration_minutes + 90)
    if exam.opens_at > earliest:
        before = exam.opens_at
        exam.opens_at = earliest
        audit.record(session, actor=actor, action="exam.reschedule", object_type="exam", object_id=exam.id, now=now,
                     before={"opens_at": before}, after={"opens_at": earliest}, reason="simulated sitting")


def simulate(session: Session, exam: Exam, n: int, *, now: datetime, password_hash: str, id_keys: students.IdKeys,
             graders: list[User], staff: User, actor: audit.Actor, seed: int = 2026,
             commit_every: int = 100, progress: Callable[[int, int], None] | None = None) -> SimulationReport:
    """Create ``n`` students spread over the leagues, each with a finalized, scored attempt (see module doc)."""
    rng = random.Random(seed)
    _ensure_window(session, exam, now, actor)
    schools: dict[str, list[School]] = {}
    for school in session.scalars(select(School).order_by(School.id)):
        schools.setdefault(school.league_code, []).append(school)
    for league in session.scalars(select(League).order_by(League.code)):
        if not schools.get(league.code):  # every league sends students: give an empty one a school
            school = School(name=f"{league.name_zh.removesuffix('市')}模拟中学", league_code=league.code)
            session.add(school)
            schools[league.code] = [school]
    session.flush()
    codes = sorted(schools)
    weights = [LEAGUE_WEIGHTS.get(code, 5) for code in codes]
    paper = papers.load(session, exam)
    client = attempts.Client("127.0.0.1", "simulation")
    finalized = absent = timed_out = 0
    made = 0
    for i in range(n):
        league = rng.choices(codes, weights)[0]
        number = f"2026{league}9{i + 1:05d}"
        ability = rng.gauss(0, 1)
        user = session.scalar(select(User).where(User.login_name == number))
        if user is None:
            user = students.create_student(
                session, students.StudentInput(exam_number=number, name=_name(rng),
                                               school_id=rng.choice(schools[league]).id,
                                               subject_code=exam.subject_code, gender=rng.choice("MF"),
                                               grade=rng.choice(["高一", "高二"])),
                password="unused-simulated-password", now=now, actor=actor, id_keys=id_keys, hash_params=CHEAP)
            user.password_hash = password_hash
        if session.scalar(select(Attempt.id).where(Attempt.exam_id == exam.id, Attempt.student_id == user.id)):
            continue
        made += 1
        if rng.random() < 0.02:
            voiding.mark_absent(session, exam, user, staff=staff, reason="模拟：未到考", now=now, actor=actor)
            absent += 1
            continue
        start = exam.opens_at + timedelta(minutes=10, seconds=rng.randint(0, 300))
        attempts.accept_pledge(session, exam=exam, user=user, now=start - timedelta(minutes=1), client=client)
        attempt = attempts.start(session, exam=exam, user=user, now=start, client=client)
        page = attempts.open_page(session, attempt, now=start + timedelta(seconds=20), client=client,
                                  include_questions=False)
        duration = (attempt.deadline - attempt.started_at).total_seconds()
        used = min(duration - 30, max(600.0, duration * rng.uniform(0.55, 1.0) - 300 * ability))
        ids = [qid for section_ids in attempt.layout for qid in section_ids]  # the student's own order
        for seq, qid in enumerate(ids, 1):
            q = paper.questions[qid]
            value = answer(q.content, _p_right(ability, float(q.content.get("difficulty", 3))), rng)
            if value is None:
                continue
            at = start + timedelta(seconds=30 + used * seq / (len(ids) + 1))
            attempts.save(session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq, question_id=qid,
                          answer=attempts.to_opaque(q.content, attempt.seed, value), now=at)
        if rng.random() < 0.04:  # the browser went away: the deadline rule finalizes it
            attempts.finalize_if_overdue(session, attempt, now=attempt.deadline + timedelta(
                seconds=exam.grace_seconds + 1))
            timed_out += 1
        else:
            attempts.submit(session, attempt, token=page["token"], now=start + timedelta(seconds=used), client=client)
        finalized += 1
        if made % commit_every == 0:
            session.commit()
            if progress is not None:
                progress(i + 1, n)
    session.commit()
    graded = grade_all(session, exam, graders, now=now, actor=actor, rng=rng)
    session.commit()
    rows = rankings.rank_inputs(exam, rankings.load_inputs(session, exam))
    ranked = [r for r in rows if r.rank is not None]
    return SimulationReport(exam.id, made, finalized, absent, timed_out, graded,
                            len({round(r.total, 2) for r in ranked}), sum(1 for r in ranked if r.tied))


def grade_all(session: Session, exam: Exam, graders: list[User], *, now: datetime, actor: audit.Actor,
              rng: random.Random) -> int:
    """Grade every waiting short answer through the queue (as many graders as double marking needs)."""
    paper = papers.load(session, exam)
    count = 0
    for item in grading.manual_items(paper):
        for grader in graders:
            grader_actor = audit.Actor(grader.id, grader.login_name, None)
            while True:
                batch = grading.queue(session, exam, item, grader, limit=500)
                if not batch:
                    break
                for entry in batch:
                    good = "要点齐全" in entry.answer
                    share = rng.uniform(0.7, 1.0) if good else rng.uniform(0.1, 0.6)
                    points = float(round(item.max_points * share))
                    grading.record(session, exam, attempt_id=entry.attempt_id,
                                   exam_question_id=item.exam_question_id, part_key=item.part_key, slot=entry.slot,
                                   grader=grader, points=points, comment=None, now=now, actor=grader_actor)
                    count += 1
                session.commit()
    return count


def tie_summary(rows: list[ranking.RankedRow]) -> str:
    """A one-line description of the ties in a ranking (for the CLI)."""
    ranked = [r for r in rows if r.rank is not None]
    groups = {}
    for r in ranked:
        groups.setdefault(r.rank, 0)
        groups[r.rank] += 1
    tied = [size for size in groups.values() if size > 1]
    return (f"{len(ranked)} ranked, {len(groups)} distinct ranks, {len(tied)} tied groups "
            f"(largest {max(tied, default=1)})")


DEMO_SUBJECT = "physics"


def demo(session: Session, n: int, *, password: str, hash_params: HashParams, subject: str = DEMO_SUBJECT,
         echo: Callable[[str], None] | None = None) -> list[str]:
    """``flask demo --simulate N``: simulate N students on the demo's selection exam of ``subject``."""
    from flask import current_app

    from app.clock import utcnow
    from app.commands.context import cli_actor
    from app.services.passwords import hash_password

    exam = session.scalar(select(Exam).where(Exam.subject_code == subject, Exam.kind == "selection",
                                             Exam.state == "published").order_by(Exam.id).limit(1))
    if exam is None:
        return [f"没有可模拟的{subject}选拔考试 / no published {subject} selection exam to simulate"]
    graders = [u for u in session.scalars(select(User).where(User.role == "teacher").order_by(User.id))
               if subject in u.subject_codes]
    staff = session.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
    id_keys = students.IdKeys(current_app.config["ID_ENCRYPTION_KEYS"], current_app.config["ID_HASH_KEY"])
    report = simulate(session, exam, n, now=utcnow(), password_hash=hash_password(password, hash_params.as_tuple()),
                      id_keys=id_keys, graders=graders, staff=staff, actor=cli_actor(),
                      progress=(lambda done, total: echo(f"  … {done}/{total}")) if echo else None)
    return [
        f"模拟考试 / simulated sitting of exam {report.exam_id} ({exam.title}):",
        (f"  {report.students} new students, {report.finalized} finalized ({report.timed_out} by the deadline), "
         f"{report.absent} absent, {report.graded} short answers graded"),
        f"  {report.distinct_totals} distinct totals, {report.tied_rows} attempts share a rank with another",
        f"  next: flask rankings compute {report.exam_id}",
    ]
