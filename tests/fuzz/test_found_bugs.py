"""Regression tests for the bugs the fuzzers of this directory found (each one, as a plain example)."""
from __future__ import annotations

import io
import zipfile

import pytest

from app.domain import student_file
from app.domain.questions import canonical
from app.formats.registry import EXPORTERS, IMPORTERS
from tests.conftest import csrf_token


@pytest.mark.parametrize("path", ["/api/attempts/2147483648/review", "/api/attempts/99999999999999999999999/review"])
def test_an_id_beyond_the_id_column_is_a_json_404_not_a_500(as_role, path):
    client, _ = as_role("student")
    response = client.get(path)
    assert response.status_code == 404 and response.is_json
    post = client.post("/api/exams/9223372036854775808/start", json={}, headers={"X-CSRFToken": csrf_token(client)})
    assert post.status_code == 404 and post.is_json


def test_an_id_beyond_the_id_column_is_a_404_on_staff_pages_too(as_role):
    client, _ = as_role("admin")
    assert client.get("/results/exams/2147483648").status_code == 404


def _single(texts, answer="a", qtype="single"):
    return canonical({"key": "q-1", "type": qtype, "stem": "题干", "points": 1, "subject": "physics", "topic": "力学",
                      "knowledge_points": ["力学"], "answer": answer,
                      "options": [{"id": i, "text": t} for i, t in zip("abcd", texts)]})


@pytest.mark.parametrize("texts", [["%", "b"], ["0", "%50% 的概率"], ["% 5", "%"]])
def test_gift_option_text_starting_with_percent_survives_export_and_import(texts):
    question = _single(texts)
    exported = EXPORTERS["gift"].export([question], {}, subject="physics")
    back = IMPORTERS["gift"].parse(exported.files, subject="physics")
    assert back.issues == [] and back.questions == [question]


def test_gift_reports_what_would_come_back_as_another_type():
    multiple_one_right = _single(["甲", "乙"], answer=["a"], qtype="multiple")
    arrow = canonical({"key": "q-2", "type": "fill_blank", "stem": "过程 {{1}}", "points": 1, "subject": "physics",
                       "topic": "力学", "knowledge_points": ["力学"], "blanks": [{"answers": ["A->B"]}]})
    exported = EXPORTERS["gift"].export([multiple_one_right, arrow], {}, subject="physics")
    assert [issue.location for issue in exported.issues] == ["q-1", "q-2"]


def test_student_workbook_with_a_broken_sheet_is_refused_not_crashed():
    with zipfile.ZipFile(io.BytesIO(student_file.template_xlsx())) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = next(name for name in parts if name.startswith("xl/worksheets/"))
    parts[sheet] = parts[sheet][:len(parts[sheet]) // 2]  # cut mid-element
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(student_file.FileRefused) as info:
        student_file.read_table(buffer.getvalue(), "students.xlsx")
    assert info.value.code == "not_xlsx"


@pytest.mark.parametrize("pattern", ["{seq:09999999d}", "{year}{league}{seq:013d}", "X" * 40 + "{seq}"])
def test_numbering_pattern_making_overlong_exam_numbers_is_refused(pattern):
    with pytest.raises(student_file.FileRefused):
        student_file.check_pattern(pattern)
    student_file.check_pattern("{year}{league}{seq:04d}")  # the default stays fine
