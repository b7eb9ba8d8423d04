"""A small physics bank with every item type (with canary strings) and a published exam over it."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.domain.questions import ParsedBank
from app.models import Exam
from app.services import bank_import, exam_authoring
from app.services.audit import Actor

CANARY_EXPLANATION = "CANARY-EXPLANATION-7f3a"
CANARY_KEY_TEXT = "CANARY-KEY-TEXT-91c2"
CANARY_REFERENCE = "CANARY-REFERENCE-55d1"

QUESTIONS: list[dict[str, Any]] = [
    {"key": "t-single", "type": "single", "stem": "加速度的国际单位是？", "points": 4, "difficulty": 2,
     "options": [{"id": "a", "text": "m/s"}, {"id": "b", "text": "$\\mathrm{m/s^2}$"}, {"id": "c", "text": "N"},
                 {"id": "d", "text": "J"}], "answer": "b", "explanation": CANARY_EXPLANATION},
    {"key": "t-multiple", "type": "multiple", "stem": "下列属于矢量的是", "points": 6, "difficulty": 3,
     "options": [{"id": "a", "text": "速度"}, {"id": "b", "text": "位移"}, {"id": "c", "text": "路程"},
                 {"id": "d", "text": "时间"}], "answer": ["a", "b"], "explanation": CANARY_EXPLANATION},
    {"key": "t-tf", "type": "true_false", "stem": "匀速圆周运动是匀变速运动。", "points": 2, "difficulty": 2,
     "answer": False, "explanation": CANARY_EXPLANATION},
    {"key": "t-fill", "type": "fill_blank", "stem": "自由落体 2 s 末速度为 {{1}}，物体名称 {{2}}。", "points": 4,
     "difficulty": 2, "blanks": [{"numeric": {"value": 19.6, "tolerance": 0.1}, "unit": "m/s"},
                                 {"answers": [CANARY_KEY_TEXT]}], "explanation": CANARY_EXPLANATION},
    {"key": "t-order", "type": "ordering", "stem": "按波长从长到短排列", "points": 4, "difficulty": 3,
     "items": [{"id": "r", "text": "无线电波"}, {"id": "i", "text": "红外线"}, {"id": "v", "text": "可见光"},
               {"id": "x", "text": "X 射线"}], "answer": ["r", "i", "v", "x"], "explanation": CANARY_EXPLANATION},
    {"key": "t-match", "type": "matching", "stem": "把物理量与单位配对", "points": 6, "difficulty": 3,
     "prompts": [{"id": "p1", "text": "力"}, {"id": "p2", "text": "功"}],
     "options": [{"id": "n", "text": "N"}, {"id": "j", "text": "J"}, {"id": "w", "text": "W"}],
     "answer": {"p1": "n", "p2": "j"}, "explanation": CANARY_EXPLANATION},
    {"key": "t-short", "type": "short_answer", "stem": "解释惯性。", "points": 8, "difficulty": 3,
     "reference_answer": CANARY_REFERENCE, "rubric": CANARY_REFERENCE, "explanation": CANARY_EXPLANATION},
    {"key": "t-group", "type": "group", "stem": "阅读材料回答问题。", "difficulty": 3, "explanation": CANARY_EXPLANATION,
     "parts": [
         {"key": "t-group-1", "type": "single", "stem": "第一问", "points": 3,
          "options": [{"id": "a", "text": "甲"}, {"id": "b", "text": "乙"}], "answer": "a"},
         {"key": "t-group-2", "type": "true_false", "stem": "第二问", "points": 2, "answer": True},
     ]},
]


def load_bank(session: Session, now: datetime, subject: str = "physics") -> None:
    """Import the questions, approved."""
    parsed = ParsedBank(questions=[{**q, "subject": subject, "topic": "测试"} for q in QUESTIONS])
    report = bank_import.import_bank(session, parsed, actor=Actor.system("test"), author_id=None, now=now,
                                     approve=True)
    assert report.ok, report.issues


def make_exam(session: Session, now: datetime, *, kind: str = "selection", subject: str = "physics",
              duration: int = 120, opens: timedelta = timedelta(minutes=-5), closes: timedelta = timedelta(hours=3),
              grace: int = 60, **extra: Any) -> Exam:
    """A published exam with one section per group of types, over the test bank."""
    spec = {"subject": subject, "title": f"测试考试 {kind} {now.timestamp()}-{id(extra)}", "kind": kind,
            "opens_at": (now + opens).isoformat(), "closes_at": (now + closes).isoformat(),
            "duration_minutes": duration, "grace_seconds": grace,
            "sections": [
                {"name": "选择", "policy": "gaokao_partial", "questions": ["t-single", "t-multiple", "t-tf"]},
                {"name": "填空与排序", "questions": ["t-fill", "t-order", "t-match"]},
                {"name": "综合", "questions": ["t-group", "t-short"]},
            ], "publish": True, **extra}
    return exam_authoring.create_exam(session, spec, actor=Actor.system("test"), creator_id=None, now=now)
