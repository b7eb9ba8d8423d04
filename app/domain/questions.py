"""Questions as plain data: validation, canonical form, fingerprint and image references.

A question is a dict in the shape of the native YAML format (docs/question-format.md). Every importer
turns its file into such dicts, calls ``validate_question`` and, only when nothing is wrong, stores
``canonical(q)``. Two questions have the same content exactly when their canonical forms are equal.
The per-field rules (and ``Issue``) live in app/domain/question_rules.py; this module is the public
face and re-exports them.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from app.domain.question_rules import (
    COMMON_FIELDS,
    CONTROL_CHARS,
    KEY,
    LIMITS,
    MAX_KNOWLEDGE_POINTS,
    MAX_PARTS,
    MAX_POINTS,
    META_FIELDS,
    QUESTION_TYPES,
    SUBJECTS,
    TYPE_FIELDS,
    Checker,
    Issue,
    clean,
    image_targets,
    is_image_path,
    is_number,
    join,
    strings,
    unsafe_html,
    whole,
)
from app.domain.question_types import TYPE_CANON, TYPE_CHECKS

__all__ = [
    "QUESTION_TYPES", "SUBJECTS", "BankValidationError", "Issue", "ParsedBank", "canonical",
    "content_fingerprint", "image_refs", "validate_question",
]


class BankValidationError(Exception):
    """Raised when content cannot be accepted; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = list(issues)
        shown = "; ".join(issue.message("en") for issue in self.issues[:5])
        more = f" (+{len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        super().__init__(shown + more)


@dataclass
class ParsedBank:
    """What an importer found in a set of files.

    ``questions`` are canonical dicts, each with ``subject`` and ``topic`` added; ``images`` maps a
    reference as written in the text (``images/fig1.svg``) to checked, safe bytes. Any ``issues``
    means nothing may be written (importers then leave ``questions`` and ``images`` empty);
    ``notes`` are informational only (e.g. a skipped description question, an unused image).
    """

    questions: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)


def validate_question(q: dict, *, where: str = "") -> list[Issue]:
    """Check one question against every rule of docs/question-format.md and return all problems.

    ``where`` (usually the file name) starts each issue's location; the question key and the field
    follow. An empty list means the question may be stored as ``canonical(q)``. Never raises, whatever
    the shape of ``q``. Keys must be unique within the question (a group and its parts); uniqueness
    across a subject is the importer's check.
    """
    issues: list[Issue] = []
    _validate(q, where, issues, top=True)
    return issues


def _key_label(q: Any) -> str:
    key = q.get("key") if isinstance(q, dict) else None
    return key.strip() if isinstance(key, str) and KEY.fullmatch(key.strip()) else ""


def _validate(q: Any, where: str, issues: list[Issue], top: bool) -> None:
    if not isinstance(q, dict):
        issues.append(Issue(where, "question.not_mapping", "每道题应是一组“字段: 值”，以 key: 开头",
                            "each question must be a mapping of fields, starting with key:"))
        return
    c = Checker(q, join(where, _key_label(q)), issues)
    key, qtype = q.get("key"), q.get("type")
    if key is None:
        c.missing("key")
    elif not _key_label(q):
        c.add("key", "key.bad_format",
              f"题目编号“{key}”不合规：只能用字母、数字和 - _ .，以字母或数字开头，"
              "最长 64 个字符（如 phy-kin-001）",
              f'question key "{key}" is not valid: letters, digits, - _ . only, starting with a letter '
              "or digit, at most 64 characters (e.g. phy-kin-001)")
    known = isinstance(qtype, str) and qtype in QUESTION_TYPES
    if qtype is None:
        c.missing("type")
    elif not known:
        c.add("type", "question.unknown_type", f"未知题型“{qtype}”，可用：{'、'.join(QUESTION_TYPES)}",
              f'unknown question type "{qtype}"; use one of: {", ".join(QUESTION_TYPES)}')
    elif qtype == "group" and not top:
        c.add("type", "group.nested", "材料题的小题不能再是材料题",
              "a part of a material group cannot be a group")
    else:
        c.unknown_fields(q, COMMON_FIELDS + (META_FIELDS if top else ()) + TYPE_FIELDS[qtype])
    c.text(q.get("stem"), "stem", LIMITS["long"])
    if qtype == "group" and top:
        _group(c, q, where)
    elif known and qtype != "group":
        TYPE_CHECKS[qtype](c)
    if qtype != "group":
        _points(c, q.get("points"))
    _common(c, q, top)
    for path, text in strings(q, skip=("parts",)):
        _text_safety(c, path, text)


def _points(c: Checker, points: Any) -> None:
    if points is None:
        c.missing("points")
    elif not (is_number(points) and 0 < whole(points) <= MAX_POINTS):  # whole(): 1e-9 is not > 0
        c.add("points", "points.invalid", f"分值必须是大于 0、不超过 {MAX_POINTS} 的数字",
              f"points must be a number greater than 0 and at most {MAX_POINTS}")


def _common(c: Checker, q: dict, top: bool) -> None:
    """Difficulty, knowledge points and the optional texts shared by every type."""
    difficulty = q.get("difficulty")
    if difficulty is not None and not (is_number(difficulty) and float(difficulty).is_integer()
                                       and 1 <= difficulty <= 5):
        c.add("difficulty", "difficulty.invalid", "难度必须是 1 到 5 的整数",
              "difficulty must be a whole number 1 to 5")
    kps = q.get("knowledge_points")
    kps = [kps] if isinstance(kps, str) else kps
    if kps is not None and (not isinstance(kps, list) or len(kps) > MAX_KNOWLEDGE_POINTS):
        c.add("knowledge_points", "knowledge_points.invalid",
              f"应为知识点列表（最多 {MAX_KNOWLEDGE_POINTS} 个）",
              f"must be a list of knowledge points (at most {MAX_KNOWLEDGE_POINTS})")
    for i, kp in enumerate(kps if isinstance(kps, list) else [], 1):
        if not isinstance(kp, str) or not all(seg.strip() for seg in kp.split("/")) or len(kp) > LIMITS["kp"]:
            c.add(f"knowledge_points[{i}]", "knowledge_points.invalid",
                  f"知识点“{kp}”应为用 / 分隔的路径，如 力学/运动学，各级都不能为空",
                  f'knowledge point "{kp}" must be a / separated path like 力学/运动学, no empty level')
    c.text(q.get("explanation"), "explanation", LIMITS["long"], required=False)
    for name in ("source", "author") + (("topic",) if top else ()):
        c.text(q.get(name), name, LIMITS["meta"], required=False)
    if top and q.get("subject") is not None and q.get("subject") not in SUBJECTS:
        c.add("subject", "subject.unknown", f"未知学科“{q.get('subject')}”，可用：{'、'.join(SUBJECTS)}",
              f'unknown subject "{q.get("subject")}"; use one of: {", ".join(SUBJECTS)}')


def _group(c: Checker, q: dict, where: str) -> None:
    """Material group: the stem is the shared material; 1–10 parts, each a full non-group question
    with its own key; the group's points are the sum of its parts' (may be omitted)."""
    parts = q.get("parts")
    if parts is None:
        c.missing("parts")
        return
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_PARTS:
        c.add("parts", "group.parts_count", f"材料题需要 1–{MAX_PARTS} 个小题（parts 列表）",
              f"a material group needs a parts: list of 1–{MAX_PARTS} questions")
        if not isinstance(parts, list):
            return
    keys = {_key_label(q)}
    for i, part in enumerate(parts, 1):
        label = _key_label(part)
        part_where = where if label else join(c.where, f"parts[{i}]")
        if label and label in keys:
            c.issues.append(Issue(join(where, label, "key"), "key.duplicate", f"题目编号“{label}”重复",
                                  f'question key "{label}" is used twice'))
        keys.add(label)
        _validate(part, part_where, c.issues, top=False)
    points = [p.get("points") if isinstance(p, dict) else None for p in parts]
    given = q.get("points")
    if given is not None and all(is_number(p) for p in points) and not (
            is_number(given) and whole(given) == whole(sum(points))):
        c.add("points", "group.points_mismatch",
              f"材料题分值应等于各小题之和 {whole(sum(points))}（也可以不写）",
              f"a group's points must equal the sum of its parts, {whole(sum(points))} (or be left out)")


def _text_safety(c: Checker, path: str, text: str) -> None:
    """Every text field: no HTML with script, no control characters, images only from images/."""
    if unsafe_html(text):
        c.add(path, "text.unsafe_html",
              "含有可执行脚本的 HTML（<script>、on…= 事件属性、javascript: 链接、"
              "<iframe>/<object>/<embed>），不允许",
              "HTML with script (<script>, on…= event attributes, javascript: links, "
              "<iframe>/<object>/<embed>) is not allowed")
    if CONTROL_CHARS.search(text):
        c.add(path, "text.control_char", "含有不可见的控制字符，请删除",
              "contains invisible control characters; remove them")
    for target in image_targets(text):
        if not is_image_path(target):
            c.add(path, "image.bad_path",
                  f"图片“{target}”必须是题库旁 images/ 文件夹中的文件，写作 images/文件名（不能用网址）",
                  f'image "{target}" must be a file in the images/ folder beside the bank, written '
                  "images/name (no web addresses)")


def canonical(q: dict) -> dict:
    """The normalized content of a valid question, for storage and for equality.

    Rule: keys in a fixed order (subject, topic, key, type, stem, the type's fields, points,
    difficulty, knowledge_points, explanation, source, author); defaults filled (difficulty 3,
    knowledge_points [], explanation/source/author/rubric "", case_sensitive false, tolerance 0 when
    no tolerance is given, unit ""); every text with ``\n`` line ends, no trailing whitespace on
    any line, trimmed at both ends; ids and keys trimmed; points an int when whole, numeric values
    and tolerances floats; a multiple-choice answer in option order; a group's points the sum of
    its parts'. ``subject`` and ``topic`` are kept when present. ``q`` must have passed
    ``validate_question``; canonical(canonical(q)) == canonical(q).
    """
    return _canonical(q, top=True)


def _canonical(q: dict, top: bool) -> dict:
    out: dict[str, Any] = {}
    for name in META_FIELDS if top else ():
        if isinstance(q.get(name), str):
            out[name] = clean(q[name])
    out.update(key=q["key"].strip(), type=q["type"], stem=clean(q["stem"]))
    if q["type"] == "group":
        out["parts"] = [_canonical(part, top=False) for part in q["parts"]]
        out["points"] = whole(sum(part["points"] for part in out["parts"]))
    else:
        out.update(TYPE_CANON[q["type"]](q))
        out["points"] = whole(q["points"])
    out["difficulty"] = 3 if q.get("difficulty") is None else int(q["difficulty"])
    kps = q.get("knowledge_points") or []
    kps = [kps] if isinstance(kps, str) else kps
    out["knowledge_points"] = list(dict.fromkeys("/".join(s.strip() for s in kp.split("/")) for kp in kps))
    for name in ("explanation", "source", "author"):
        out[name] = clean(q.get(name) or "")
    return out


def _fold(text: str) -> str:
    # NFKC, whitespace runs collapsed to one space, trimmed, case folded.
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _choice_texts(q: dict) -> list[str]:
    texts = []
    for name in ("options", "items", "prompts"):
        entries = q.get(name)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                texts.append(entry["text"])
    return texts


def content_fingerprint(subject: str, q: dict) -> str:
    """SHA-256 (hex) identifying a question's content, for duplicate detection.

    Rule: over the subject, the stem and the sorted option/item/prompt texts, each normalized by
    NFKC, whitespace collapsed and case folded; ids, answers, points and explanations do not count.
    For a material group, the texts are its parts' stems and choices. Never raises.
    """
    stem = q.get("stem") if isinstance(q.get("stem"), str) else ""
    texts = _choice_texts(q)
    parts = q.get("parts")
    for part in parts if isinstance(parts, list) else []:
        if isinstance(part, dict):
            texts.extend([part["stem"]] if isinstance(part.get("stem"), str) else [])
            texts.extend(_choice_texts(part))
    payload = json.dumps([subject, _fold(stem), sorted(_fold(t) for t in texts)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def image_refs(q: dict) -> list[str]:
    """Every ``images/...`` path referenced as a Markdown image (``![说明](images/f.svg)``) in any
    text field of ``q`` (stem, options, items, prompts, blanks, parts, explanation, …), each once,
    in order of appearance. References that are not under ``images/`` are not listed (validation
    refuses them)."""
    refs: list[str] = []
    for _path, text in strings(q):
        for target in image_targets(text):
            if is_image_path(target) and target not in refs:
                refs.append(target)
    return refs
