"""The question editor's text: one question as YAML in, checked content out; templates per type; diffs.

The editor works on the native format (docs/question-format.md) for a single question: the same
safe YAML reader as the importer (app/formats/yaml_io.py), the same validation
(app/domain/questions.py), and the exporter's readable layout for prefilling and for diffs, so what
a teacher edits here reads exactly like a bank file.
"""
from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from app.domain.images import check_image
from app.domain.question_rules import is_image_path
from app.domain.questions import Issue, validate_question
from app.formats import native_yaml, yaml_io

WHERE = "editor"
MAX_TEXT = 200_000  # characters of YAML for one question

# One template per type, valid as written, with Chinese placeholder content; ``{key}`` is filled in.
SKELETONS: dict[str, str] = {
    "single": """\
key: {key}
type: single
stem: |
  在此输入题干，可以写公式 $v=v_0+at$。
options:
  - {{id: a, text: 选项一}}
  - {{id: b, text: 选项二}}
  - {{id: c, text: 选项三}}
  - {{id: d, text: 选项四}}
answer: a
points: 4
difficulty: 3
knowledge_points: []
explanation: |
  在此输入解析（考生在成绩公布前看不到）。
""",
    "multiple": """\
key: {key}
type: multiple
stem: |
  在此输入题干（多选）。
options:
  - {{id: a, text: 选项一}}
  - {{id: b, text: 选项二}}
  - {{id: c, text: 选项三}}
  - {{id: d, text: 选项四}}
answer: [a, c]
points: 6
difficulty: 3
knowledge_points: []
explanation: |
  在此输入解析。
""",
    "true_false": """\
key: {key}
type: true_false
stem: |
  在此输入需要判断正误的陈述。
answer: true
points: 2
difficulty: 3
knowledge_points: []
explanation: |
  在此输入解析。
""",
    "fill_blank": """\
key: {key}
type: fill_blank
stem: |
  在此输入题干，空位依次写作两层花括号包住的序号。第一空 {{{{1}}}}，重力加速度约为 {{{{2}}}}。
blanks:
  - answers: [答案一]
  - numeric: {{value: 9.8, tolerance: 0.05}}
    unit: m/s^2
points: 4
difficulty: 3
knowledge_points: []
explanation: |
  在此输入解析。
""",
    "ordering": """\
key: {key}
type: ordering
stem: |
  把下列各项按正确的顺序排列。
items:
  - {{id: a, text: 第一步}}
  - {{id: b, text: 第二步}}
  - {{id: c, text: 第三步}}
answer: [a, b, c]
points: 4
difficulty: 3
knowledge_points: []
explanation: |
  在此输入解析。
""",
    "matching": """\
key: {key}
type: matching
stem: |
  把左边各项与右边的选项配对。
prompts:
  - {{id: p1, text: 左项一}}
  - {{id: p2, text: 左项二}}
options:
  - {{id: x, text: 右项甲}}
  - {{id: y, text: 右项乙}}
  - {{id: z, text: 右项丙}}
answer: {{p1: x, p2: y}}
points: 4
difficulty: 3
knowledge_points: []
explanation: |
  在此输入解析。
""",
    "short_answer": """\
key: {key}
type: short_answer
stem: |
  在此输入简答题题干。
reference_answer: |
  在此输入参考答案（阅卷用，考生看不到）。
rubric: |
  在此输入评分细则。
points: 10
difficulty: 3
knowledge_points: []
""",
    "group": """\
key: {key}
type: group
stem: |
  在此输入各小题共用的材料。
parts:
  - key: {key}-1
    type: single
    stem: 第一小题题干。
    options:
      - {{id: a, text: 选项一}}
      - {{id: b, text: 选项二}}
    answer: a
    points: 3
  - key: {key}-2
    type: true_false
    stem: 第二小题：判断下列陈述是否正确。
    answer: false
    points: 2
difficulty: 3
knowledge_points: []
""",
}

_KEY_PREFIX = {"math": "math", "physics": "phy", "chemistry": "chem", "biology": "bio", "cs": "cs"}


def suggest_key(subject: str, now: datetime) -> str:
    """A fresh key for a new question (the teacher may change it): ``phy-20260614-060000``."""
    return f"{_KEY_PREFIX.get(subject, subject or 'q')}-{now:%Y%m%d-%H%M%S}"


def skeleton(qtype: str, key: str) -> str:
    """The editor's starting text for a question type (single choice for an unknown type)."""
    return SKELETONS.get(qtype, SKELETONS["single"]).format(key=key)


def parse_question(text: str) -> tuple[dict[str, Any] | None, list[Issue]]:
    """Read the editor's YAML as one question; return (content, problems) — content None if unreadable.

    Refuses what the editor cannot hold: several questions, a whole bank file, ``subject``/``topic``
    inside the question (they are the form's fields). The content is not validated here.
    """
    if len(text) > MAX_TEXT:
        return None, [Issue(WHERE, "editor.too_long", f"内容过长（最多 {MAX_TEXT} 个字符）",
                            f"the text is too long (at most {MAX_TEXT} characters)")]
    try:
        document = yaml_io.plain(yaml_io.load(text))
    except (yaml.YAMLError, yaml_io.YamlRefused) as error:
        return None, [native_yaml._yaml_error(WHERE, error, text)]
    if isinstance(document, dict) and "questions" in document:
        return None, [Issue(WHERE, "editor.whole_file", "这里只编辑一道题：请只粘贴一道题（以 key: 开头），不要 questions: 列表",
                            "edit one question here (starting with key:), not a questions: list; "
                            "import whole files on the import page")]
    if isinstance(document, list):
        return None, [Issue(WHERE, "editor.list", "这里只编辑一道题：请去掉开头的“- ”，以 key: 开头",
                            'edit one question here: remove the leading "- " and start with key:')]
    if not isinstance(document, dict):
        return None, [Issue(WHERE, "editor.not_mapping", "试题应是一组“字段: 值”，以 key: 开头",
                            "a question is a mapping of fields, starting with key:")]
    issues = [Issue(f"{WHERE} · {name}", "editor.meta_field",
                    f"{name} 请在表单的“学科/专题”中填写，不要写在试题里",
                    f"set {name} in the form's subject/topic fields, not in the question")
              for name in ("subject", "topic") if name in document]
    return document, issues


def validate(content: dict[str, Any]) -> list[Issue]:
    """Every rule of the format for one question, located in the editor."""
    return validate_question(content, where=WHERE)


def question_yaml(content: dict[str, Any]) -> str:
    """A stored (canonical) question as the editor shows it: the exporter's readable layout."""
    return yaml_io.dump(native_yaml._readable(content))


# --- images ------------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[\s\\/?#:%*\"<>|()\[\]\x00-\x1f\x7f]+")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


def image_ref(filename: str) -> str | None:
    """The ``images/…`` reference an uploaded file is known by (None if its name is unusable)."""
    base = posixpath.basename((filename or "").replace("\\", "/"))
    name = _UNSAFE_NAME.sub("-", base).strip(".-")[:100]
    ref = f"images/{name}"
    return ref if name and is_image_path(ref) else None


def check_upload(filename: str, data: bytes) -> tuple[str, bytes] | Issue:
    """An uploaded image checked by content (app.domain.images); (reference, safe bytes) or an Issue."""
    ref = image_ref(filename)
    if ref is None:
        return Issue(filename or "?", "image.bad_name", "图片文件名不可用，请改名（如 fig1.png）后重新上传",
                     "the image's file name cannot be used; rename it (e.g. fig1.png) and upload again")
    checked = check_image(ref, data)
    if isinstance(checked, Issue):
        return checked
    return ref, checked[1]


# --- diff --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DiffRow:
    """One line of a side-by-side-numbered diff: kind is 'same', 'del', 'add' or 'gap' (skipped lines)."""

    kind: str
    old: int | None
    new: int | None
    text: str


def diff_rows(old_text: str, new_text: str, context: int = 3) -> list[DiffRow]:
    """Line diff of two YAML texts, unchanged runs longer than 2 × ``context`` folded into a gap."""
    old, new = old_text.splitlines(), new_text.splitlines()
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            span = list(range(i2 - i1))
            first, last = i1 == 0, i2 == len(old)
            keep_head = [] if first else span[:context]
            keep_tail = [] if last else span[-context:] if context else []
            if len(span) <= len(keep_head) + len(keep_tail) or (not first and not last and len(span) <= 2 * context):
                shown = span
                gap_at = None
            else:
                shown = keep_head + keep_tail
                gap_at = len(keep_head)
            for n, k in enumerate(shown):
                if gap_at is not None and n == gap_at:
                    rows.append(DiffRow("gap", None, None, ""))
                rows.append(DiffRow("same", i1 + k + 1, j1 + k + 1, old[i1 + k]))
            if gap_at is not None and gap_at == len(shown):
                rows.append(DiffRow("gap", None, None, ""))
            continue
        rows += [DiffRow("del", i + 1, None, old[i]) for i in range(i1, i2)]
        rows += [DiffRow("add", None, j + 1, new[j]) for j in range(j1, j2)]
    return rows
