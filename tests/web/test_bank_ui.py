"""The teachers' question bank pages, through the client: list, editor and preview, review, history,
import and export, and who may see what."""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bank import editing
from app.domain.questions import canonical, validate_question
from app.models import AuditEntry, Question, QuestionVersion
from app.services import bank_store
from tests.conftest import csrf_token
from tests.factories import NOW

BANK = Path(__file__).resolve().parents[2] / "question_bank"
INCLINE_SVG = (BANK / "physics" / "images" / "incline.svg").read_bytes()


def _single(key: str, stem: str, **extra) -> dict:
    return {"key": key, "type": "single", "stem": stem, "points": 4,
            "options": [{"id": "a", "text": "甲"}, {"id": "b", "text": "乙"}], "answer": "a", **extra}


def _question(session, subject: str, content: dict, *, author=None, status: str = "draft", topic: str = "专题"):
    question = bank_store.create_question(session, subject=subject, topic=topic, content=canonical(content),
                                          image_map={}, author_id=author.id if author else None, now=NOW)
    question.status = status
    session.flush()
    return question


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(Question))


def _keys(page: bytes) -> set[str]:
    return set(re.findall(r'<td class="mono"><a href="/bank/\d+">([^<]+)</a>', page.decode()))


def _post(client, path: str, data: dict, **kwargs):
    return client.post(path, data={"csrf_token": csrf_token(client, "/bank/"), **data}, **kwargs)


# --- list ------------------------------------------------------------------------------------------

def test_list_search_and_filters_stay_inside_the_teachers_subjects(as_role, make, db_session):
    client, teacher = as_role("teacher", subjects=["physics"])
    other = make.user(role="teacher", subjects=["physics"])
    _question(db_session, "physics", _single("p-fall", "自由落体运动的加速度为多少？", difficulty=2,
                                             knowledge_points=["力学/运动学/自由落体"]), author=teacher)
    _question(db_session, "physics", {"key": "p-light", "type": "true_false", "stem": "光从空气射入水中会发生折射。",
                                      "answer": True, "points": 2, "difficulty": 4,
                                      "knowledge_points": ["光学/折射"]}, author=other, status="approved")
    _question(db_session, "math", _single("m-fall", "自由落体与二次函数"))

    assert _keys(client.get("/bank/").data) == {"p-fall", "p-light"}  # never the math question
    assert _keys(client.get("/bank/?q=自由落体").data) == {"p-fall"}
    assert _keys(client.get("/bank/?q=%25").data) == set()  # % is searched for, not a wildcard
    assert _keys(client.get("/bank/?type=true_false").data) == {"p-light"}
    assert _keys(client.get("/bank/?kp=力学").data) == {"p-fall"}
    assert _keys(client.get("/bank/?difficulty=4").data) == {"p-light"}
    assert _keys(client.get("/bank/?status=approved").data) == {"p-light"}
    assert _keys(client.get(f"/bank/?author={other.id}").data) == {"p-light"}
    assert _keys(client.get("/bank/?subject=math").data) == set()
    page = client.get("/bank/").data.decode()
    assert "判断题" in page and "已通过" in page and "自由落体运动的加速度" in page


def test_list_pages_by_fifty(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    for n in range(53):
        _question(db_session, "physics", _single(f"p-{n:03d}", f"第 {n} 题"))
    first, second = client.get("/bank/").data, client.get("/bank/?page=2").data
    assert len(_keys(first)) == 50 and len(_keys(second)) == 3
    assert "共 53 道试题" in first.decode() and "/bank/?page=2" in first.decode()


def test_admin_sees_every_subject(as_role, db_session):
    client, _admin = as_role("admin")
    _question(db_session, "physics", _single("p-1", "物理题"))
    _question(db_session, "math", _single("m-1", "数学题"))
    assert _keys(client.get("/bank/").data) == {"p-1", "m-1"}


# --- permissions -----------------------------------------------------------------------------------

def test_teacher_cannot_open_or_change_another_subjects_question(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    math = _question(db_session, "math", _single("m-1", "数学题"))
    for path in (f"/bank/{math.id}", f"/bank/{math.id}/edit", f"/bank/{math.id}/history"):
        assert client.get(path).status_code == 403, path
    yaml_text = editing.question_yaml(math.current_version.content).replace("数学题", "改过的数学题")
    assert _post(client, f"/bank/{math.id}/edit", {"yaml_text": yaml_text}).status_code == 403
    assert _post(client, f"/bank/{math.id}/transition", {"action": "submit"}).status_code == 403
    assert _post(client, f"/bank/{math.id}/comment", {"text": "看看"}).status_code == 403
    assert _post(client, "/bank/bulk", {"action": "retire", "ids": [math.id]}).status_code == 403
    assert client.get("/bank/export?subject=math&format=yaml").status_code == 403
    assert math.status == "draft" and len(math.versions) == 1
    assert client.get("/bank/999999").status_code == 404


def test_students_and_proctors_are_refused(as_role):
    for role in ("student", "proctor", "league_admin"):
        client, _user = as_role(role)
        assert client.get("/bank/").status_code == 403
        assert client.get("/bank/new").status_code == 403


# --- editor, versions, review ----------------------------------------------------------------------

def test_create_edit_review_and_history(app, as_role, db_session):
    client, author = as_role("teacher", subjects=["physics"])
    page = client.get("/bank/new?subject=physics&type=single")
    assert page.status_code == 200 and "在此输入题干" in page.data.decode()
    source = editing.skeleton("single", "phy-ui-001").replace("在此输入题干，可以写公式 $v=v_0+at$。",
                                                            "小球自由下落 $2\\ \\text{s}$ 后的速度为")
    response = _post(client, "/bank/new", {"subject": "physics", "topic": "运动学", "yaml_text": source})
    assert response.status_code == 302, response.data.decode()[:2000]
    question = db_session.scalar(select(Question).where(Question.key == "phy-ui-001"))
    assert question.status == "draft" and question.topic == "运动学" and question.author_id == author.id

    edited = source.replace("后的速度为", "后的速度大小为")
    response = _post(client, f"/bank/{question.id}/edit", {"yaml_text": edited, "note": "补充“大小”"})
    assert response.status_code == 302
    db_session.expire_all()
    assert [v.number for v in question.versions] == [1, 2]
    history = client.get(f"/bank/{question.id}/history").data.decode()
    assert "补充“大小”" in history
    assert re.search(r'<tr class="diff-del">.*?后的速度为</code>', history, re.DOTALL)
    assert re.search(r'<tr class="diff-add">.*?后的速度大小为</code>', history, re.DOTALL)

    # Saving the same text again makes no version.
    _post(client, f"/bank/{question.id}/edit", {"yaml_text": edited})
    db_session.expire_all()
    assert len(question.versions) == 2

    assert _post(client, f"/bank/{question.id}/transition", {"action": "submit"}).status_code == 302
    db_session.expire_all()
    assert question.status == "submitted"
    refused = _post(client, f"/bank/{question.id}/transition", {"action": "approve"}, follow_redirects=True)
    assert "不能审核自己编写的版本" in refused.data.decode()
    db_session.expire_all()
    assert question.status == "submitted" and question.approved_version_id is None

    reviewer, _other = as_role("teacher", subjects=["physics"])
    show = reviewer.get(f"/bank/{question.id}").data.decode()
    assert 'value="approve"' in show
    assert _post(reviewer, f"/bank/{question.id}/transition",
                 {"action": "approve", "comment": "通过"}).status_code == 302
    db_session.expire_all()
    assert question.status == "approved" and question.approved_version.number == 2

    actions = set(db_session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "question",
                                                                     AuditEntry.object_id == str(question.id))))
    assert {"question.create", "question.edit", "question.submit", "question.approve"} <= actions

    # Editing the approved question: a third version, back to draft, papers keep version 2.
    _post(client, f"/bank/{question.id}/edit", {"yaml_text": edited.replace("points: 4", "points: 5")})
    db_session.expire_all()
    assert question.current_version.number == 3 and question.status == "draft"
    assert question.approved_version.number == 2
    page = client.get(f"/bank/{question.id}").data.decode()
    assert "当前版本" in page and "已通过版本" in page


def test_reject_needs_a_reason_and_comments_are_listed(as_role, db_session):
    author = as_role("teacher", subjects=["physics"])[1]
    question = _question(db_session, "physics", _single("p-1", "物理题"), author=author, status="submitted")
    reviewer, _user = as_role("teacher", subjects=["physics"])
    page = _post(reviewer, f"/bank/{question.id}/transition", {"action": "reject"}, follow_redirects=True)
    assert "退回时请写明原因" in page.data.decode() and question.status == "submitted"
    _post(reviewer, f"/bank/{question.id}/transition", {"action": "reject", "comment": "选项乙有误"})
    db_session.expire_all()
    assert question.status == "draft"
    assert _post(reviewer, f"/bank/{question.id}/comment", {"text": "  "}, follow_redirects=True).status_code == 200
    _post(reviewer, f"/bank/{question.id}/comment", {"text": "请补充解析"})
    page = reviewer.get(f"/bank/{question.id}").data.decode()
    assert "选项乙有误" in page and "请补充解析" in page


def test_preview_and_question_page_never_show_the_key(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    canary = "CANARYx7q"
    source = f"""\
key: phy-canary
type: single
stem: 哪个选项正确？$\\frac{{1}}{{2}}mv^2$
options:
  - {{id: right{canary.lower()[:6]}, text: 甲}}
  - {{id: wrong, text: 乙}}
answer: right{canary.lower()[:6]}
points: 4
explanation: 解析 {canary}-EXPLANATION
"""
    token = csrf_token(client, "/bank/new")
    data = client.post("/bank/preview", json={"yaml": source}, headers={"X-CSRFToken": token}).get_json()
    assert data["issues"] == [] and "哪个选项正确" in data["html"] and 'class="math-inline"' in data["html"]
    assert canary not in data["html"] and canary.lower()[:6] not in data["html"]

    short = {"key": "phy-canary-2", "type": "short_answer", "stem": "说明理由。", "points": 6,
             "reference_answer": f"{canary}-REFERENCE", "rubric": f"{canary}-RUBRIC",
             "explanation": f"{canary}-EXPLANATION"}
    question = _question(db_session, "physics", short)
    data = client.post("/bank/preview", json={"yaml": editing.question_yaml(question.current_version.content),
                                              "question_id": question.id},
                       headers={"X-CSRFToken": token}).get_json()
    assert "说明理由" in data["html"] and canary not in data["html"]
    page = client.get(f"/bank/{question.id}").data.decode()
    assert "说明理由" in page and canary not in page


def test_preview_locates_problems(as_role):
    client, _teacher = as_role("teacher", subjects=["physics"])
    token = csrf_token(client, "/bank/new")
    bad_answer = editing.skeleton("single", "phy-x").replace("answer: a", "answer: e")
    data = client.post("/bank/preview", json={"yaml": bad_answer}, headers={"X-CSRFToken": token}).get_json()
    assert data["html"] is None
    assert any(i["location"] == "editor · phy-x · answer" and "e" in i["message"] for i in data["issues"])
    data = client.post("/bank/preview", json={"yaml": "key: a\n  stem: [\n"}, headers={"X-CSRFToken": token}).get_json()
    assert data["html"] is None and re.search(r"第 \d+ 行", data["issues"][0]["message"])
    missing = editing.skeleton("single", "phy-x").replace("在此输入题干", "![图](images/nowhere.png)")
    data = client.post("/bank/preview", json={"yaml": missing}, headers={"X-CSRFToken": token}).get_json()
    assert data["html"] and "images/nowhere.png" in data["html"]  # rendered, with a placeholder
    assert any("nowhere.png" in i["message"] for i in data["issues"])
    english = client.post("/bank/preview?lang=en", json={"yaml": bad_answer},
                          headers={"X-CSRFToken": token}).get_json()
    assert any("missing option" in i["message"] for i in english["issues"])
    assert client.post("/bank/preview", json={"yaml": bad_answer}).status_code == 400  # no CSRF token


def test_editor_refuses_bad_input_and_writes_nothing(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    before = _count(db_session)
    bad = editing.skeleton("single", "phy-bad").replace("points: 4", "points: -1")
    page = _post(client, "/bank/new", {"subject": "physics", "yaml_text": bad})
    assert page.status_code == 422 and "editor · phy-bad · points" in page.data.decode()
    page = _post(client, "/bank/new", {"subject": "math", "yaml_text": editing.skeleton("single", "m-1")})
    assert page.status_code == 422  # not one of the teacher's subjects
    page = _post(client, "/bank/new", {"subject": "physics",
                                        "yaml_text": "subject: physics\n" + editing.skeleton("single", "p-2")})
    assert page.status_code == 422 and "学科/专题" in page.data.decode()
    assert _count(db_session) == before
    _question(db_session, "physics", _single("phy-taken", "已有"))
    page = _post(client, "/bank/new", {"subject": "physics", "yaml_text": editing.skeleton("single", "phy-taken")})
    assert page.status_code == 422 and "phy-taken" in page.data.decode() and "已存在" in page.data.decode()


def test_edit_keeps_the_key(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    question = _question(db_session, "physics", _single("phy-k", "原题"))
    text = editing.question_yaml(question.current_version.content).replace("phy-k", "phy-other")
    page = _post(client, f"/bank/{question.id}/edit", {"yaml_text": text})
    assert page.status_code == 422 and "题目编号不能修改" in page.data.decode()
    db_session.expire_all()
    assert len(question.versions) == 1


@pytest.mark.parametrize("qtype", list(editing.SKELETONS))
def test_every_type_has_a_valid_template_that_previews(as_role, qtype):
    source = editing.skeleton(qtype, "phy-new-1")
    content, issues = editing.parse_question(source)
    assert issues == [] and validate_question(content) == []
    client, _teacher = as_role("teacher", subjects=["physics"])
    page = client.get(f"/bank/new?subject=physics&type={qtype}").data.decode()
    assert 'class="question q-' + qtype in page


def test_images_uploaded_in_the_editor_are_stored_and_shown(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    token = csrf_token(client, "/bank/new")
    uploaded = client.post("/bank/upload-image", data={"image": (io.BytesIO(INCLINE_SVG), "斜面 图.svg")},
                           headers={"X-CSRFToken": token}, content_type="multipart/form-data").get_json()
    assert uploaded["ref"] == "images/斜面-图.svg" and uploaded["url"].startswith("/bank/images/")
    refused = client.post("/bank/upload-image", data={"image": (io.BytesIO(b"not an image"), "x.png")},
                          headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert refused.status_code == 400 and "不是图片" in refused.get_json()["message"]

    source = editing.skeleton("single", "phy-img").replace("在此输入题干", f"![斜面]({uploaded['ref']})")
    image_map = json.dumps({uploaded["ref"]: uploaded["name"]})
    data = client.post("/bank/preview", json={"yaml": source, "image_map": {uploaded["ref"]: uploaded["name"]}},
                       headers={"X-CSRFToken": token}).get_json()
    assert data["issues"] == [] and f'src="{uploaded["url"]}"' in data["html"]
    assert _post(client, "/bank/new", {"subject": "physics", "yaml_text": source,
                                       "image_map": image_map}).status_code == 302
    question = db_session.scalar(select(Question).where(Question.key == "phy-img"))
    assert question.current_version.images == {uploaded["ref"]: uploaded["name"]}
    assert f'src="{uploaded["url"]}"' in client.get(f"/bank/{question.id}").data.decode()

    # Without the page's script: the file sent with the form itself.
    source2 = editing.skeleton("single", "phy-img2").replace("在此输入题干", "![斜面](images/incline.svg)")
    response = _post(client, "/bank/new", {"subject": "physics", "yaml_text": source2,
                                           "images": [(io.BytesIO(INCLINE_SVG), "incline.svg")]},
                     content_type="multipart/form-data")
    assert response.status_code == 302
    second = db_session.scalar(select(Question).where(Question.key == "phy-img2"))
    assert list(second.current_version.images) == ["images/incline.svg"]


# --- bulk actions ----------------------------------------------------------------------------------

def test_bulk_submit_tag_and_retire(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    one = _question(db_session, "physics", _single("p-1", "一"))
    two = _question(db_session, "physics", _single("p-2", "二"))
    approved = _question(db_session, "physics", _single("p-3", "三"), status="approved")

    page = _post(client, "/bank/bulk", {"action": "submit", "ids": [one.id, approved.id]}, follow_redirects=True)
    assert "没有任何改动" in page.data.decode() and "p-3" in page.data.decode()
    db_session.expire_all()
    assert one.status == "draft"  # all or nothing

    assert _post(client, "/bank/bulk", {"action": "submit", "ids": [one.id, two.id]}).status_code == 302
    db_session.expire_all()
    assert one.status == two.status == "submitted"

    _post(client, "/bank/bulk", {"action": "tag", "tag": "力学 / 运动学", "ids": [one.id, two.id]})
    db_session.expire_all()
    assert one.current_version.content["knowledge_points"] == ["力学/运动学"]
    assert [t.path for t in two.tags] == ["力学/运动学"] and len(two.versions) == 2
    page = _post(client, "/bank/bulk", {"action": "tag", "tag": "", "ids": [one.id]}, follow_redirects=True)
    assert "请填写要添加的知识点" in page.data.decode()

    _post(client, "/bank/bulk", {"action": "retire", "ids": [one.id, two.id, approved.id]})
    db_session.expire_all()
    assert {one.status, two.status, approved.status} == {"retired"}
    assert "请先勾选试题" in _post(client, "/bank/bulk", {"action": "retire"}, follow_redirects=True).data.decode()


# --- import and export -----------------------------------------------------------------------------

def _images(subject: str) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(p.read_bytes()), p.name) for p in sorted((BANK / subject / "images").glob("*"))]


def _bank_upload(subject: str, name: str) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO((BANK / subject / name).read_bytes()), name), *_images(subject)]


def _import(client, files, **options):
    data = {"files": files, "on_duplicate": "skip", "subject": "", **options}
    return _post(client, "/bank/import", data, content_type="multipart/form-data")


def test_import_of_a_bad_file_shows_located_problems_and_writes_nothing(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    text = (BANK / "physics" / "kinematics_dynamics.yaml").read_text("utf-8")
    broken = text.replace("    answer: a\n", "    answer: e\n", 1)
    page = _import(client, [(io.BytesIO(broken.encode()), "kinematics_dynamics.yaml")] +
                   _images("physics"))
    body = page.data.decode()
    assert page.status_code == 422 and "导入被拒绝" in body
    assert "kinematics_dynamics.yaml · phy-kin-001 · answer" in body and "不存在的选项" in body
    assert _count(db_session) == 0
    english = _post(client, "/bank/import?lang=en", {"files": [(io.BytesIO(broken.encode()), "k.yaml")],
                                                     "on_duplicate": "skip"},
                    content_type="multipart/form-data").data.decode()
    assert "missing option" in english and _count(db_session) == 0
    malformed = _import(client, [(io.BytesIO(b"subject: physics\nquestions:\n  - key: [\n"), "x.yaml")])
    assert malformed.status_code == 422 and re.search(r"x\.yaml.*第 \d+ 行", malformed.data.decode(), re.DOTALL)


def test_dry_run_writes_nothing_and_a_real_import_creates(as_role, db_session):
    client, teacher = as_role("teacher", subjects=["physics"])
    page = _import(client, _bank_upload("physics", "kinematics_dynamics.yaml"), dry_run="y")
    body = page.data.decode()
    assert page.status_code == 200 and "试运行结果" in body and "phy-kin-001" in body
    assert _count(db_session) == 0

    page = _import(client, _bank_upload("physics", "kinematics_dynamics.yaml"))  # dry run unticked
    assert page.status_code == 200 and "导入完成" in page.data.decode()
    created = _count(db_session)
    assert created > 5
    question = db_session.scalar(select(Question).where(Question.key == "phy-kin-003"))
    assert question.author_id == teacher.id and "images/incline.svg" in question.current_version.images

    again = _import(client, _bank_upload("physics", "kinematics_dynamics.yaml")).data.decode()
    assert "未变" in again and _count(db_session) == created

    # The same content under a new key is a duplicate: reported and skipped.
    text = (BANK / "physics" / "kinematics_dynamics.yaml").read_text("utf-8").replace("phy-kin-001", "phy-copy-001")
    page = _import(client, [(io.BytesIO(text.encode()), "copy.yaml")] + _images("physics"))
    assert "重复的试题" in page.data.decode() and "phy-copy-001" in page.data.decode()
    assert _count(db_session) == created


def test_import_is_limited_to_the_teachers_subjects(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    page = _import(client, _bank_upload("math", "functions.yaml"))
    assert page.status_code == 422 and "math" in page.data.decode() and _count(db_session) == 0


def test_import_of_a_zip_folder(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("physics/kinematics_dynamics.yaml", (BANK / "physics" / "kinematics_dynamics.yaml").read_bytes())
        for image in (BANK / "physics" / "images").glob("*"):
            archive.writestr(f"physics/images/{image.name}", image.read_bytes())
    buffer.seek(0)
    page = _import(client, [(buffer, "physics.zip")])
    assert page.status_code == 200 and _count(db_session) > 5


def test_export_downloads_and_lists_what_a_format_cannot_hold(as_role, db_session):
    client, _teacher = as_role("teacher", subjects=["physics"])
    _import(client, _bank_upload("physics", "kinematics_dynamics.yaml"))
    assert client.get("/bank/export").status_code == 200
    response = client.get("/bank/export?subject=physics&format=yaml")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert "physics/images/incline.svg" in names and any(n.endswith(".yaml") for n in names)
    gift = client.get("/bank/export?subject=physics&format=gift")
    assert gift.status_code == 200 and "attachment" in gift.headers["Content-Disposition"]
    check = client.get("/bank/export?subject=physics&format=gift&check=1")
    assert check.status_code == 200 and "检查结果" in check.data.decode()
    template = client.get("/bank/template.xlsx")
    assert template.status_code == 200 and template.data[:2] == b"PK"


def test_versions_are_immutable_rows(as_role, db_session):
    """An edit adds a version row and never rewrites the old one (what papers pin stays as it was)."""
    client, _teacher = as_role("teacher", subjects=["physics"])
    question = _question(db_session, "physics", _single("p-v", "原来的题干"))
    first = question.current_version.content
    text = editing.question_yaml(first).replace("原来的题干", "新的题干")
    _post(client, f"/bank/{question.id}/edit", {"yaml_text": text})
    db_session.expire_all()
    rows = db_session.scalars(select(QuestionVersion).where(QuestionVersion.question_id == question.id)
                              .order_by(QuestionVersion.number)).all()
    assert rows[0].content == first and rows[1].content["stem"] == "新的题干"
