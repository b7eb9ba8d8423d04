"""The exam authoring pages through the client: the form (valid, invalid, impossible), availability,
editing, publishing, the student's-eye preview (no keys), the list, and who may do what."""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.models import AuditEntry, Exam, ExamQuestion, Question, SelectionRound
from app.services import attempts
from tests.conftest import csrf_token
from tests.exam_fixtures import (
    CANARY_EXPLANATION,
    CANARY_KEY_TEXT,
    CANARY_REFERENCE,
    QUESTIONS,
    load_bank,
    make_exam,
)

CANARIES = (CANARY_EXPLANATION, CANARY_KEY_TEXT, CANARY_REFERENCE)

SECTIONS = """\
- name: 一、选择题
  policy: gaokao_partial
  policy_params: {partial_points: 3}
  questions: [t-single]
  blueprint:
    - {type: multiple, difficulty: [1, 5], count: 1}
    - {type: true_false, difficulty: [1, 5], count: 1}
- name: 二、填空与排序
  points_per_question: 5
  blueprint:
    - {type: fill_blank, difficulty: [1, 5], count: 1}
    - {type: ordering, difficulty: [1, 5], count: 1}
    - {type: matching, difficulty: [1, 5], count: 1}
- name: 三、综合
  questions: [t-group]
  blueprint:
    - {type: short_answer, difficulty: [1, 5], count: 1}
"""


@pytest.fixture
def bank(db_session, now):
    """The physics test bank (every type, canaries in keys and explanations), approved."""
    load_bank(db_session, now)


def _form(**overrides) -> dict:
    data = {"round": "2026 英才计划选拔在线测试", "subject": "physics", "title": "2026 年物理学科潜质测试",
            "kind": "selection", "instructions": "本测试共 120 分钟。", "opens_at": "2026-06-14T14:00",
            "closes_at": "2026-06-14T16:30", "latest_start": "2026-06-14T14:30", "duration_minutes": "120",
            "grace_seconds": "60", "access_code": "", "tie_break_1": "section:一、选择题",
            "tie_break_2": "fewer_wrong", "tie_break_3": "", "shuffle_questions": "y", "shuffle_options": "y",
            "sections_yaml": SECTIONS}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _post(client, path: str, data: dict, **kwargs):
    return client.post(path, data={"csrf_token": csrf_token(client, "/exams/"), **data}, **kwargs)


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _create(client, **overrides) -> int:
    response = _post(client, "/exams/new", _form(**overrides))
    assert response.status_code == 302, response.data.decode()[:3000]
    return int(re.search(r"/exams/(\d+)$", response.headers["Location"]).group(1))


def _question(session, key: str) -> Question:
    return session.scalar(select(Question).where(Question.key == key))


def _issues(page: str) -> list[tuple[str, str]]:
    row = r'<tr class="issue"><td class="num">\d+</td><td class="mono">([^<]*)</td><td>([^<]*)</td>'
    return re.findall(row, page)


# --- creating through the form ------------------------------------------------------------------------


def test_a_valid_form_creates_a_draft_with_its_sections_and_times_in_utc(as_role, bank, db_session):
    client, teacher = as_role("teacher", subjects=["physics"])
    exam_id = _create(client, leagues=["150100", "150200"])
    exam = db_session.get(Exam, exam_id)
    assert exam.state == "draft" and exam.created_by_id == teacher.id
    assert exam.round.name == "2026 英才计划选拔在线测试"
    # Typed as Beijing time, stored as aware UTC.
    assert exam.opens_at == datetime(2026, 6, 14, 6, 0, tzinfo=UTC)
    assert exam.closes_at == datetime(2026, 6, 14, 8, 30, tzinfo=UTC)
    assert exam.latest_start_at == datetime(2026, 6, 14, 6, 30, tzinfo=UTC)
    assert exam.tie_breaks == ["section:一、选择题", "fewer_wrong"]
    assert exam.eligibility == {"leagues": ["150100", "150200"]}
    assert [s.name for s in exam.sections] == ["一、选择题", "二、填空与排序", "三、综合"]
    first = exam.sections[0]
    assert first.policy == "gaokao_partial" and first.policy_params == {"partial_points": 3}
    assert first.fixed_keys == ["t-single"] and len(first.blueprint) == 2
    assert exam.sections[1].points_per_question == 5
    assert _count(db_session, ExamQuestion) == 0  # a draft pins nothing
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "exam.create",
                                                      AuditEntry.object_id == str(exam_id))) is not None

    page = client.get(f"/exams/{exam_id}").data.decode()
    assert "2026-06-14 14:00" in page and "2026-06-14 16:30" in page  # shown in the display zone
    assert 'id="publish-ready"' in page  # the draft's live check passes
    assert page.count('class="cell"') == 6
    assert 'data-requested="1" data-available="1"' in page


def test_the_new_form_starts_from_a_valid_example_for_the_subject(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics", "math"])
    page = client.get("/exams/new?subject=physics").data.decode()
    assert 'value="120"' in page  # the subject's default duration
    assert "一、单项选择题" in page and "{type: single, difficulty: [1, 5], count: 1}" in page
    assert len(re.findall(r'<option value="15\d{4}"', page)) == 12  # the 12 leagues
    assert 'value="math"' in page and 'value="chemistry"' not in page  # only the teacher's subjects
    example = re.search(r'id="sections-yaml"[^>]*>\n?(.*?)</textarea>', page, re.DOTALL).group(1)
    exam_id = _create(client, sections_yaml=html.unescape(example), tie_break_1="", tie_break_2="")
    assert len(db_session.get(Exam, exam_id).sections) == 8  # one section per type the pool has

    data = client.get("/exams/example?subject=math").get_json()
    assert data["duration_minutes"] == 120 and "name:" in data["sections_yaml"]
    assert client.get("/exams/example?subject=biology").status_code == 403
    assert client.get("/exams/example?subject=nope").status_code == 404


def test_an_invalid_form_shows_every_located_issue_and_writes_nothing(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics"])
    exams, rounds = _count(db_session, Exam), _count(db_session, SelectionRound)
    bad_sections = """\
- name: 一、选择题
  policy: majority_vote
  questions: [t-single, no-such-key]
  blueprint:
    - {type: single, count: many}
- name: 一、选择题
  points_per_question: -2
  questions: [t-single]
"""
    response = _post(client, "/exams/new", _form(
        title="", opens_at="2026-06-14T18:00", duration_minutes="abc", grace_seconds="900", access_code="ab",
        tie_break_1="section:三、综合", sections_yaml=bad_sections, round="全新的轮次"))
    assert response.status_code == 422
    page = response.data.decode()
    found = dict(_issues(page))
    for location in ("title", "closes_at", "duration_minutes", "grace_seconds", "access_code", "tie_breaks",
                     "sections[1].policy", "sections[1].blueprint[1]", "sections[1].questions",
                     "sections[2].name", "sections[2].points_per_question", "sections[2].questions"):
        assert location in found, (location, found)
    assert "结束时间必须晚于开考时间" in found["closes_at"]
    assert "未知评分规则：majority_vote" in found["sections[1].policy"]
    assert "没有试题 no-such-key" in page and "试题 t-single 重复使用" in page
    # Nothing written, not even the new round.
    assert _count(db_session, Exam) == exams and _count(db_session, SelectionRound) == rounds
    assert "全新的轮次" in page and "majority_vote" in page  # the author's input is kept

    english = _post(client, "/exams/new?lang=en", _form(title="", sections_yaml=bad_sections)).data.decode()
    assert "the title must be 1–200 characters" in english
    assert "unknown scoring policy majority_vote" in english


def test_malformed_yaml_is_located_by_line(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics"])
    response = _post(client, "/exams/new", _form(sections_yaml="- name: 一\n  blueprint: [\n  - oops: {"))
    assert response.status_code == 422
    found = dict(_issues(response.data.decode()))
    assert "YAML 格式错误" in found["sections"] and "第 3 行" in found["sections"]
    many = "".join(f"- {{name: s{i}, questions: [t-single]}}\n" for i in range(31))
    found = dict(_issues(_post(client, "/exams/new", _form(sections_yaml=many)).data.decode()))
    assert "试卷结构过大" in found["sections"]
    assert _count(db_session, Exam) == 0


def test_an_impossible_blueprint_is_refused_with_the_message_of_each_cell(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics"])
    impossible = """\
- name: 单选
  blueprint:
    - {type: single, difficulty: [1, 5], count: 3}
    - {type: multiple, difficulty: [4, 5], count: 1}
"""
    response = _post(client, "/exams/new", _form(sections_yaml=impossible, tie_break_1=""))
    assert response.status_code == 422
    found = dict(_issues(response.data.decode()))
    message = found["sections[1].blueprint"]
    assert "抽题规则无法满足" in message
    assert "第 1 格（单选题，难度 1–5，知识点 不限）需要 3 题，题库中只有 1 题" in message
    assert "第 2 格（多选题，难度 4–5，知识点 不限）需要 1 题，题库中只有 0 题" in message
    assert _count(db_session, Exam) == 0


# --- availability ---------------------------------------------------------------------------------------


def test_availability_counts_approved_questions_per_section_and_cell(as_role, bank, db_session, now):
    client, _ = as_role("teacher", subjects=["physics"])
    token = csrf_token(client, "/exams/new")
    fine = client.post("/exams/availability", json={"subject": "physics", "sections": SECTIONS},
                       headers={"X-CSRFToken": token}).get_json()
    assert fine["ok"] is True and fine["issues"] == []
    assert [c["available"] for c in fine["sections"][1]["cells"]] == [1, 1, 1]

    # A question sent back to draft does not count: only approved ones can be drawn.
    _question(db_session, "t-order").status = "draft"
    db_session.flush()
    sections = """\
- name: 甲
  questions: [t-single]
  blueprint:
    - {type: single, difficulty: [1, 5], count: 2}
    - {type: multiple, difficulty: [1, 3], count: 1}
    - {type: multiple, difficulty: [4, 5], count: 1}
- name: 乙
  blueprint:
    - {type: ordering, difficulty: [1, 5], count: 1}
    - {type: fill_blank, count: x}
"""
    response = client.post("/exams/availability", json={"subject": "physics", "sections": sections},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200
    data = response.get_json()
    assert data["ok"] is False and data["section_names"] == ["甲", "乙"]
    cells = [[(c["requested"], c["available"], c["ok"]) for c in s["cells"]] for s in data["sections"]]
    # t-single is fixed by key, so it cannot also be drawn: the single cell has none left.
    assert cells == [[(2, 0, False), (1, 1, True), (1, 0, False)], [(1, 0, False), (None, None, False)]]
    assert data["sections"][0]["questions"] == ["t-single"]
    assert data["sections"][0]["cells"][0]["label"] == "单选题，难度 1–5，知识点 不限"
    locations = {i["location"] for i in data["issues"]}
    assert {"sections[1].blueprint", "sections[2].blueprint[2]"} <= locations
    assert "第 1 格（单选题，难度 1–5，知识点 不限）需要 2 题，题库中只有 0 题" in str(data["issues"])

    assert client.post("/exams/availability", json={"subject": "physics"},
                       headers={"X-CSRFToken": token}).status_code == 400
    assert client.post("/exams/availability", json={"subject": "math", "sections": SECTIONS},
                       headers={"X-CSRFToken": token}).status_code == 403
    no_token = client.post("/exams/availability", json={"subject": "physics", "sections": SECTIONS})
    assert no_token.status_code == 400


# --- publish and preview -------------------------------------------------------------------------------


def _preview_keys(page: str) -> set[str]:
    stems = {q["stem"].split("{{")[0]: q["key"] for q in QUESTIONS}
    return {key for stem, key in stems.items() if stem in page}


def _points(page: str) -> str:
    return re.search(r'id="preview-summary">([^<]*)<', page).group(1)


def test_publish_pins_versions_and_the_preview_shows_every_question_without_keys(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics"])
    exam_id = _create(client)

    draft = client.get(f"/exams/{exam_id}/preview").data.decode()
    assert _preview_keys(draft) == {q["key"] for q in QUESTIONS}
    assert not any(c in draft for c in CANARIES)
    assert _count(db_session, ExamQuestion) == 0  # previewing a draft pins nothing

    response = _post(client, f"/exams/{exam_id}/publish", {})
    assert response.status_code == 302
    exam = db_session.get(Exam, exam_id)
    db_session.refresh(exam)
    assert exam.state == "published" and exam.published_at is not None
    rows = db_session.scalars(select(ExamQuestion).where(ExamQuestion.exam_id == exam_id)).all()
    assert len(rows) == len(QUESTIONS)
    for row in rows:
        assert row.version_id == row.question.approved_version_id  # pinned to the approved version
    assert {r.points for r in rows if r.section.position == 2} == {5.0}  # points_per_question applied
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "exam.publish",
                                                      AuditEntry.object_id == str(exam_id))) is not None

    details = client.get(f"/exams/{exam_id}").data.decode()
    assert details.count('class="pinned-question"') == len(QUESTIONS)
    for row in rows:
        assert f'href="/bank/{row.question_id}">{row.question.key}</a>' in details
    assert f"/exams/{exam_id}/publish" not in details  # no second publish

    published = client.get(f"/exams/{exam_id}/preview").data.decode()
    assert _preview_keys(published) == {q["key"] for q in QUESTIONS}
    # Every question once (a group's two parts are questions of their own), no more.
    shown = re.findall(r'<div class="question q-(?!group)[a-z_]+" data-qtoken', published)
    assert len(shown) == len(QUESTIONS) - 1 + 2
    assert not any(c in published for c in CANARIES)
    assert "vendor/katex/katex.min.js" in published and "js/math.js" in published
    assert "math-inline" in published
    assert _points(published) == _points(draft)  # the draft's preview scored the questions as publishing did

    staff = client.get(f"/exams/{exam_id}/preview?tab=answers").data.decode()
    assert all(c in staff for c in CANARIES)  # the staff tab shows keys and explanations, canaries too
    assert "19.6 ± 0.1" in staff

    other_seed = client.get(f"/exams/{exam_id}/preview?seed=another-student").data.decode()
    assert _preview_keys(other_seed) == {q["key"] for q in QUESTIONS}
    assert other_seed != published  # another student's order


def test_the_draft_preview_is_the_paper_that_publishing_pins(as_role, bank, db_session, now):
    client, _ = as_role("teacher", subjects=["physics"])
    small = """\
- name: 抽题
  blueprint:
    - {type: single, difficulty: [1, 5], count: 1}
    - {type: multiple, difficulty: [1, 5], count: 1}
    - {type: true_false, difficulty: [1, 5], count: 1}
"""
    exam_id = _create(client, sections_yaml=small, tie_break_1="")
    draft_keys = _preview_keys(client.get(f"/exams/{exam_id}/preview").data.decode())
    _post(client, f"/exams/{exam_id}/publish", {})
    rows = db_session.scalars(select(ExamQuestion).where(ExamQuestion.exam_id == exam_id))
    pinned = {r.question.key for r in rows}
    assert draft_keys == pinned == {"t-single", "t-multiple", "t-tf"}


def test_a_blueprint_that_the_bank_no_longer_meets_cannot_be_published(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics"])
    exam_id = _create(client)
    _question(db_session, "t-match").status = "retired"
    db_session.flush()
    assert "发布前需要解决的问题" in client.get(f"/exams/{exam_id}").data.decode()
    preview = client.get(f"/exams/{exam_id}/preview").data.decode()
    assert "按当前题库无法抽出这份试卷" in preview
    response = _post(client, f"/exams/{exam_id}/publish", {})
    assert response.status_code == 422
    assert "匹配题" in response.data.decode() and "不能发布" in response.data.decode()
    assert db_session.get(Exam, exam_id).state == "draft" and _count(db_session, ExamQuestion) == 0


# --- editing --------------------------------------------------------------------------------------------


def test_editing_a_draft_then_a_published_exam_is_refused(as_role, bank, db_session):
    client, _ = as_role("teacher", subjects=["physics"])
    exam_id = _create(client)
    form = client.get(f"/exams/{exam_id}/edit").data.decode()
    assert 'value="2026-06-14T14:00"' in form  # shown back in the display zone
    assert "{type: multiple, difficulty: [1, 5], count: 1}" in form and "一、选择题" in form

    two = SECTIONS.split("- name: 三、综合")[0]
    response = _post(client, f"/exams/{exam_id}/edit", _form(
        title="改过的标题", sections_yaml=two, opens_at="2026-06-14T15:00", closes_at="2026-06-14T17:00",
        latest_start=""))
    assert response.status_code == 302
    exam = db_session.get(Exam, exam_id)
    db_session.refresh(exam)
    assert exam.title == "改过的标题" and [s.name for s in exam.sections] == ["一、选择题", "二、填空与排序"]
    assert exam.opens_at == datetime(2026, 6, 14, 7, 0, tzinfo=UTC) and exam.latest_start_at is None
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "exam.update")) is not None

    bad = _post(client, f"/exams/{exam_id}/edit", _form(title="", sections_yaml=two))
    assert bad.status_code == 422 and "title" in dict(_issues(bad.data.decode()))
    db_session.refresh(exam)
    assert exam.title == "改过的标题"

    _post(client, f"/exams/{exam_id}/publish", {})
    refused = client.get(f"/exams/{exam_id}/edit", follow_redirects=True).data.decode()
    assert "考试已发布，不能再修改" in refused
    response = _post(client, f"/exams/{exam_id}/edit", _form(title="发布后再改"))
    assert response.status_code == 302
    db_session.refresh(exam)
    assert exam.title == "改过的标题"


# --- list and permissions ------------------------------------------------------------------------------


def test_the_list_shows_a_teachers_subjects_times_in_the_zone_and_attempt_counts(as_role, make, bank,
                                                                                  db_session, now):
    load_bank(db_session, now, subject="math")
    physics = make_exam(db_session, now, round=None)
    math = make_exam(db_session, now, subject="math", round="2026 数学轮")
    student = make.student()
    attempts.accept_pledge(db_session, exam=physics, user=student.user, now=now, client=attempts.Client())
    attempts.start(db_session, exam=physics, user=student.user, now=now, client=attempts.Client())
    db_session.flush()

    client, _ = as_role("teacher", subjects=["physics"])
    page = client.get("/exams/").data.decode()
    assert f'data-exam-id="{physics.id}"' in page and f'data-exam-id="{math.id}"' not in page
    assert "2026-06-14 13:55" in page  # 05:55 UTC shown in Beijing time
    row = re.search(rf'data-exam-id="{physics.id}">(.*?)</tr>', page, re.DOTALL).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["120", "1", "0"]

    admin, _ = as_role("admin")
    everything = admin.get("/exams/").data.decode()
    assert f'data-exam-id="{physics.id}"' in everything and f'data-exam-id="{math.id}"' in everything
    by_round = admin.get(f"/exams/?round={math.round_id}").data.decode()
    assert f'data-exam-id="{math.id}"' in by_round and f'data-exam-id="{physics.id}"' not in by_round
    for who in (client, admin):  # the navigation link
        assert '<a href="/exams/">' in who.get("/home", follow_redirects=True).data.decode()


def test_a_teacher_of_another_subject_gets_403_and_unknown_ids_404(as_role, bank, db_session, now):
    exam = make_exam(db_session, now)
    client, _ = as_role("teacher", subjects=["math"])
    for path in (f"/exams/{exam.id}", f"/exams/{exam.id}/edit", f"/exams/{exam.id}/preview",
                 f"/exams/{exam.id}/preview?tab=answers"):
        assert client.get(path).status_code == 403, path
    assert _post(client, f"/exams/{exam.id}/publish", {}).status_code == 403
    assert _post(client, "/exams/new", _form()).status_code == 403  # physics is not theirs
    assert _count(db_session, Exam) == 1
    assert client.get("/exams/999999").status_code == 404
    assert client.get("/exams/999999/preview").status_code == 404
    assert f'data-exam-id="{exam.id}"' not in client.get("/exams/").data.decode()

    for role in ("student", "proctor", "league_admin"):
        other, _ = as_role(role)
        assert other.get("/exams/").status_code == 403
        assert other.get(f"/exams/{exam.id}/preview").status_code == 403
        assert '<a href="/exams/">' not in other.get("/home", follow_redirects=True).data.decode()
