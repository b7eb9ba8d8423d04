"""Item analysis of a real sitting: simulated students answer through the attempt services, one key is wrong.

The test bank (tests/exam_fixtures.py) keys t-single as 'b'. The simulated students behave as if
'c' were right: the stronger a student, the likelier they choose 'c'. The analysis must say that the
key of t-single looks wrong, and must not say so of the questions whose keys are right.
"""
from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from app.models import Attempt, AuditEntry, Question
from app.services import analysis, attempts, audit, charts, papers
from tests import exam_fixtures

LEAGUES = ("150100", "150200", "150400")
CLIENT = attempts.Client("127.0.0.1", "pytest")
TRUE_SINGLE = "c"  # what the simulated students treat as right; the bank says 'b'


def canonical(content, right: bool, rng: random.Random):
    """A canonical answer to one question of the test bank, right or wrong."""
    qtype = content["type"]
    if qtype == "single":
        key = TRUE_SINGLE if content["key"] == "t-single" else content["answer"]
        return key if right else rng.choice([o["id"] for o in content["options"] if o["id"] != key])
    if qtype == "multiple":
        return ["a", "b"] if right else rng.choice([["a"], ["a", "c"], ["b", "d"]])
    if qtype == "true_false":
        return bool(content["answer"]) if right else not content["answer"]
    if qtype == "fill_blank":
        return ["19.6 m/s", exam_fixtures.CANARY_KEY_TEXT] if right else ["9.8", "不知道"]
    if qtype == "ordering":
        return ["r", "i", "v", "x"] if right else ["i", "r", "v", "x"]
    if qtype == "matching":
        return {"p1": "n", "p2": "j"} if right else {"p1": "j", "p2": "n"}
    if qtype == "group":
        return {"t-group-1": "a" if right else "b", "t-group-2": right}
    if qtype == "short_answer":
        return "惯性是物体保持原有运动状态的性质。"
    return None


def sit(session, make, exam, now, n=90, seed=11, skip_rate=0.05):
    """``n`` students over three leagues start, save every answer and submit; returns abilities by attempt id."""
    rng = random.Random(seed)
    paper = papers.load(session, exam)
    abilities = {}
    for i in range(n):
        user = make.student(league_code=LEAGUES[i % len(LEAGUES)]).user
        ability = rng.gauss(0.0, 1.2)
        attempts.accept_pledge(session, exam=exam, user=user, now=now, client=CLIENT)
        attempt = attempts.start(session, exam=exam, user=user, now=now, client=CLIENT)
        page = attempts.open_page(session, attempt, now=now, client=CLIENT, include_questions=False)
        seq = 0
        # Draw answers in the paper's order, not the student's shuffled one, so the data are the same every run.
        for section in paper.sections:
            for qid in section.question_ids:
                if rng.random() < skip_rate:
                    continue
                q = paper.questions[qid]
                right = rng.random() < 1 / (1 + math.exp(-(ability - (q.content.get("difficulty", 3) - 2.5))))
                seq += 1
                attempts.save(session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq,
                              question_id=q.id, answer=attempts.to_opaque(q.content, attempt.seed,
                                                                          canonical(q.content, right, rng)),
                              now=now + timedelta(minutes=1, seconds=seq))
        attempts.submit(session, attempt, token=page["token"], now=now + timedelta(minutes=5), client=CLIENT)
        abilities[attempt.id] = ability
    session.flush()
    return abilities


@pytest.fixture
def sat_exam(db_session, make, now):
    exam_fixtures.load_bank(db_session, now)
    exam = exam_fixtures.make_exam(db_session, now)
    papers.forget(exam.id)
    sit(db_session, make, exam, now)
    return exam


def by_key(result):
    return {i.info.key: i for i in result.items}


def test_the_planted_wrong_key_is_flagged_and_the_right_keys_are_not(db_session, sat_exam):
    result = analysis.analyse(db_session, sat_exam)
    assert result.n_students == 90
    items = by_key(result)
    single = items["t-single"]
    codes = {f.code for f in single.flags}
    assert {"negative_discrimination", "distractor_beats_key"} <= codes
    beats = next(f for f in single.flags if f.code == "distractor_beats_key")
    assert beats.detail["option"] == TRUE_SINGLE
    assert single.point_biserial < 0
    assert single.discrimination < min(i.discrimination for k, i in items.items() if k != "t-single")
    assert result.flagged[0].info.key == "t-single"
    for key, item in items.items():
        if key != "t-single":
            assert not {"negative_discrimination", "distractor_beats_key"} & {f.code for f in item.flags}, key
            assert item.point_biserial > 0.1, key
    # The distractor table is by canonical option, with the upper group preferring 'c'.
    rows = {r.option: r for r in single.options}
    assert rows["b"].is_key and rows["c"].upper > rows["b"].upper and rows["c"].lower < rows["c"].upper
    # The short answer still awaits grading: listed, not analysed.
    assert [i.key for i in result.pending] == ["t-short"]
    assert "t-short" not in items

    # Exam-level figures agree with the attempts' official scores.
    scored = db_session.scalars(select(Attempt).where(Attempt.exam_id == sat_exam.id)).all()
    totals = [a.score_total for a in scored]
    assert result.distribution.mean == pytest.approx(np.mean(totals))
    assert result.distribution.sd == pytest.approx(np.std(totals, ddof=1))
    assert 0 < result.alpha < 1 and result.sem > 0 and result.kr20 is None  # partial credit on t-multiple
    assert result.mean_time_seconds == pytest.approx(300)
    assert [lg.code for lg in result.leagues] == list(LEAGUES) and all(lg.stats.n == 30 for lg in result.leagues)
    assert 0 <= items["t-tf"].omission_rate < 0.2
    eq = str(items["t-multiple"].info.exam_question_id)
    assert items["t-multiple"].facility == pytest.approx(np.mean([a.score_detail["items"][eq]["points"] / 6
                                                                  for a in scored]))
    assert all(i.rasch_difficulty is not None and i.rasch_se > 0 for i in result.items)
    assert set(items["t-tf"].dif) == set(LEAGUES)
    # Thirty students a league is too few to class DIF (see app/domain/dif.py); Δ is still reported.
    assert all(r.ets_class is None and r.n_focal == 30 for r in items["t-tf"].dif.values())


def test_write_back_question_history_and_voided_attempts(db_session, sat_exam, now):
    result = analysis.analyse(db_session, sat_exam)
    count = analysis.write_back_difficulties(db_session, sat_exam, result, actor=audit.Actor.system("test"), now=now)
    assert count == len(result.items)
    single = db_session.scalar(select(Question).where(Question.key == "t-single"))
    assert single.measured_difficulty == pytest.approx(by_key(result)["t-single"].rasch_difficulty, abs=1e-3)
    short = db_session.scalar(select(Question).where(Question.key == "t-short"))
    assert short.measured_difficulty is None
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "analysis.write_back"))
    assert entry.object_id == str(sat_exam.id) and "t-single" in entry.after["measured_difficulty"]
    history = analysis.question_history(db_session, single.id)
    assert [u.exam.id for u in history] == [sat_exam.id] and history[0].item.info.key == "t-single"
    # A voided attempt (违纪作废) leaves the analysis.
    attempt = db_session.scalars(select(Attempt).where(Attempt.exam_id == sat_exam.id)).first()
    attempt.state = "voided"
    db_session.flush()
    assert analysis.analyse(db_session, sat_exam).n_students == 89


def test_an_exam_without_attempts_has_an_empty_analysis(db_session, now):
    exam_fixtures.load_bank(db_session, now)
    exam = exam_fixtures.make_exam(db_session, now)
    result = analysis.analyse(db_session, exam)
    assert result.n_students == 0 and result.flagged == [] and result.leagues == []


@pytest.mark.skipif(not charts.has_cjk_font(), reason="fonts-noto-cjk is not installed")
def test_charts_render_in_chinese_without_missing_glyphs():
    """Warnings are errors here, so a missing CJK glyph would fail the test."""
    fig = charts.league_boxplot([("呼和浩特市", [1, 2, 3, 4]), ("锡林郭勒盟", [2, 3, 5, 8])], title="各盟市总分比较",
                                ylabel="总分")
    svg = charts.svg(fig)
    assert svg.startswith("<svg") and "<path" in svg
    png = charts.png(charts.option_curve([1, 2], [("A（答案）", [0.2, 0.8], True)], title="选项曲线",
                                         xlabel="分组平均总分", ylabel="比例"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
