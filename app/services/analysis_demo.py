"""A simulated sitting for demonstrating item analysis, with one planted wrong key.

Students get abilities θ ~ N(0, 1) and answer each question right with the Rasch probability
1 / (1 + exp(−(θ − b))), b taken from the question's 1–5 difficulty (−2 … +2 logits). One single-
choice question is given a wrong key: the simulated students treat one of its distractors as the
right answer, so the strong students choose that distractor and the bank's key rewards the weak
ones' guesses. The analysis must flag exactly that question. Everything goes through the attempt
services (pledge, start, page token, saves, submit), so the data look like a real sitting.
Short answers are written but left ungraded, so that question shows as awaiting grading.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Attempt, Exam, League, School, User
from app.services import attempts, audit, papers, students
from app.services.accounts import HashParams


@dataclass
class SimulatedSitting:
    """What was simulated."""

    exam_id: int
    students: int
    wrong_key_question: str | None  # the question key whose bank answer the simulation contradicts
    wrong_key_option: str | None  # the option the simulated strong students choose instead


SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林"
GIVEN = "子涵浩宇欣怡梓轩雨桐思远俊杰佳琪明轩晓彤"


def _name(i: int) -> str:
    """A plausible name for simulated student ``i`` (names hold no digits)."""
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)] + GIVEN[(i * 7 + 3) % len(GIVEN)]


def difficulty_logit(content: dict[str, Any]) -> float:
    """A question's 1–5 difficulty as a Rasch difficulty: 1 → −2, 3 → 0, 5 → +2 logits."""
    return float(content.get("difficulty", 3)) - 3.0


def planted_answer(content: dict[str, Any], right: bool, rng: random.Random, true_key: str | None = None) -> Any:
    """A canonical answer, right or wrong; ``true_key`` replaces the bank's key of a single-choice question."""
    qtype = content["type"]
    if qtype == "group":
        return {part["key"]: planted_answer(part, right, rng) for part in content.get("parts") or ()}
    if qtype == "single":
        key = true_key or content["answer"]
        others = [o["id"] for o in content["options"] if o["id"] != key]
        return key if right else rng.choice(others)
    if qtype == "multiple":
        correct = sorted(content["answer"])
        wrong = [o["id"] for o in content["options"] if o["id"] not in correct]
        return correct if right or not wrong else sorted({correct[0], rng.choice(wrong)})
    if qtype == "true_false":
        return bool(content["answer"]) if right else not content["answer"]
    if qtype == "fill_blank":
        return [str(b["answers"][0]) if right and b.get("answers") else
                str(b["numeric"]["value"]) if right else "不会" for b in content.get("blanks") or ()]
    if qtype == "ordering":
        order = list(content["answer"])
        return order if right else order[1:] + order[:1]
    if qtype == "matching":
        pairs = dict(content["answer"])
        if not right and len(pairs) > 1:
            a, b = list(pairs)[:2]
            pairs[a], pairs[b] = pairs[b], pairs[a]
        return pairs
    if qtype == "short_answer":
        return "（模拟作答）" + ("要点齐全。" if right else "只写出部分要点。")
    return None


def simulate_sitting(session: Session, exam: Exam, n: int, *, now: datetime, id_keys: students.IdKeys,
                     hash_params: HashParams, password: str, actor: audit.Actor, seed: int = 27,
                     wrong_key: bool = True) -> SimulatedSitting:
    """Create ``n`` students over the leagues with submitted attempts (see the module docstring)."""
    rng = random.Random(seed)
    paper = papers.load(session, exam)
    planted_q = planted_option = None
    if wrong_key:
        singles = [q for q in paper.questions.values() if q.content.get("type") == "single"]
        if singles:
            target = min(singles, key=lambda q: (abs(difficulty_logit(q.content)), q.id))
            planted_q = target
            planted_option = next(o["id"] for o in target.content["options"] if o["id"] != target.content["answer"])
    schools: dict[str, list[School]] = {}
    for school in session.scalars(select(School).order_by(School.id)):
        schools.setdefault(school.league_code, []).append(school)
    codes = [c for c in session.scalars(select(League.code).order_by(League.code)) if schools.get(c)]
    client = attempts.Client("127.0.0.1", "analysis-simulation")
    start = max(exam.opens_at + timedelta(seconds=1), now - timedelta(minutes=min(exam.duration_minutes, 60)))
    made = 0
    for i in range(n):
        league = codes[i % len(codes)]
        number = f"2026{league}8{exam.id:03d}{i + 1:04d}"
        user = session.scalar(select(User).where(User.login_name == number))
        if user is None:
            user = students.create_student(
                session, students.StudentInput(exam_number=number, name=_name(i),
                                               school_id=rng.choice(schools[league]).id,
                                               subject_code=exam.subject_code),
                password=password, now=now, actor=actor, id_keys=id_keys, hash_params=hash_params)
        if session.scalar(select(Attempt.id).where(Attempt.exam_id == exam.id, Attempt.student_id == user.id)):
            continue
        ability = rng.gauss(0.0, 1.0)
        attempts.accept_pledge(session, exam=exam, user=user, now=start, client=client)
        attempt = attempts.start(session, exam=exam, user=user, now=start, client=client)
        page = attempts.open_page(session, attempt, now=start, client=client, include_questions=False)
        seq = 0
        for section_ids in attempt.layout:  # the student's own order
            for shown_id in section_ids:
                q = paper.questions[shown_id]
                right = rng.random() < 1 / (1 + math.exp(-(ability - difficulty_logit(q.content))))
                true_key = planted_option if planted_q is not None and q.id == planted_q.id else None
                value = planted_answer(q.content, right, rng, true_key)
                seq += 1
                attempts.save(session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq,
                              question_id=q.id, answer=attempts.to_opaque(q.content, attempt.seed, value),
                              now=start + timedelta(seconds=10 * seq))
        attempts.submit(session, attempt, token=page["token"], now=start + timedelta(seconds=10 * seq + 30),
                        client=client)
        made += 1
    return SimulatedSitting(exam.id, made, planted_q.content["key"] if planted_q else None, planted_option)
