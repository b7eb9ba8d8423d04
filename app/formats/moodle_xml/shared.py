"""Helpers shared by the import formats (moodle_xml, gift.py and excel.py import these): locations,
question keys and option ids, numbers, blanks, Markdown images, the HTML markup budget, the image
store, the subject check, and validating and finishing an import."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from app.domain.images import check_image, content_hash_name
from app.domain.questions import SUBJECTS, Issue, ParsedBank, canonical, image_refs, validate_question
from app.formats import moodle_xml

# The limits are read from the package at call time (``moodle_xml.MAX_...``), so that setting
# ``app.formats.moodle_xml.MAX_...`` (as the tests do) takes effect here too.

_SUBJECT_ALIASES = {
    "math": "math", "maths": "math", "mathematics": "math", "数学": "math",
    "physics": "physics", "物理": "physics",
    "chemistry": "chemistry", "化学": "chemistry",
    "biology": "biology", "生物": "biology", "生物学": "biology",
    "cs": "cs", "computer science": "cs", "informatics": "cs", "计算机": "cs", "信息学": "cs",
    "信息技术": "cs", "计算机科学": "cs",
}


def loc(*parts: str) -> str:
    """A location from its known parts: ``file · line · key · field``."""
    return " · ".join(p for p in parts if p)


def at_line(fname: str, line: int | None) -> str:
    """The location of a line of a text file, readable in both languages."""
    return f"{fname} · 第{line}行 line {line}" if line else fname


def relocate(issue: Issue, location: str) -> Issue:
    """The same issue, located at ``location``."""
    return Issue(location, issue.code, issue.zh, issue.en)


def subject_from_name(name: str) -> str | None:
    """The subject code a category or sheet name stands for (``物理`` → physics), or None."""
    return _SUBJECT_ALIASES.get(" ".join(name.split()).casefold())


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` joined by ``-`` (at most 40 characters)."""
    ascii_text = unicodedata.normalize("NFKC", text).casefold()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_text))[:40].strip("-")


class Keys:
    """The question keys of one import, and fresh ones for questions that have none."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self._next: dict[str, int] = {}

    def add(self, key: str) -> None:
        self.used.add(key)

    def fresh(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3`` … the first one not used yet (counted per base, so
        thousands of equal bases stay linear)."""
        key, n = base, self._next.get(base, 2)
        while key in self.used:
            key, n = f"{base}-{n}", n + 1
        self._next[base] = n
        self.used.add(key)
        return key


def make_key(subject: str | None, name: str, keys: Keys) -> str:
    """A question key for a question that has none: ``<subject>-<slug of name>``.

    Rule: the ASCII letters and digits of ``name`` make the slug; when ``name`` has other letters
    (Chinese) the first 8 hex digits of its SHA-1 are added, so different Chinese names give
    different keys; a key already used gets ``-2``, ``-3`` …
    """
    prefix = subject or "q"
    text = " ".join(name.split())
    tail = slug(text)
    if not text or any(ch.isalnum() and not ch.isascii() for ch in text):
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
        tail = f"{tail}-{digest}" if tail else digest
    return keys.fresh(f"{prefix}-{tail}"[:60].strip("-"))


def option_id(index: int) -> str:
    """The id of the option at ``index`` (from 0) in document order: a, b, c … z, then o27, o28 …"""
    return "abcdefghijklmnopqrstuvwxyz"[index] if index < 26 else f"o{index + 1}"


def option_ids(count: int) -> list[str]:
    """Ids for ``count`` options in document order (see option_id)."""
    return [option_id(i) for i in range(count)]


def too_many(where: str, what_zh: str, what_en: str, count: int, limit: int) -> Issue:
    """An issue for a file or question with more parts than a bank can use."""
    return Issue(where, "import.too_many", f"{what_zh}过多：{count} 个，最多 {limit} 个（请拆分）",
                 f"too many {what_en}: {count}, at most {limit} (split them up)")


def finite_number(text: Any) -> float | None:
    """``text`` read as a finite number (``9.8``, ``-3``, ``6.02e23``, full-width digits), or None."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = unicodedata.normalize("NFKC", str(text)).strip().replace("\u2212", "-")
        if not re.fullmatch(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?", raw):
            return None
        value = float(raw)
    return value if math.isfinite(value) else None


def number_text(value: float) -> str:
    """A number as written in a file: ``4`` for 4.0, else the shortest round-tripping form."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def points_value(value: float) -> int | float:
    """Points as the bank stores them: an int when whole."""
    value = round(float(value), 6)
    return int(value) if value.is_integer() else value


def put_blank(stem: str, marker: str = "{{1}}") -> str:
    """The stem with its blank marked: the first run of 3+ underscores (or ＿) becomes ``marker``;
    without such a run the marker is added at the end."""
    match = re.search(r"_{3,}|＿+", stem)
    if match:
        return stem[: match.start()] + marker + stem[match.end():]
    return f"{stem} {marker}" if stem else marker


_IMAGE_TOKENS = re.compile(r"!\[|[\]()\s]")


def markdown_images(text: str) -> list[tuple[int, int, str, str]]:
    """The Markdown images ``![alt](target)`` in ``text`` as (start, end, alt, target): the alt has
    no ``]`` or line break, the target no whitespace or ``)``. A single pass over the tokens that
    matter (a later ``![`` restarts the alt), so any input is read in linear time; a backtracking
    regular expression would be quadratic on ``![](aaaa…``."""
    images: list[tuple[int, int, str, str]] = []
    start = close = -1  # the open "![" and, once seen, its "]"
    for token in _IMAGE_TOKENS.finditer(text):
        pos, kind = token.start(), token[0]
        if kind == "![" and close < 0:
            start = pos
        elif start < 0:
            continue
        elif close < 0:
            if kind == "]":
                close = pos
                if not text.startswith("(", pos + 1):
                    start = close = -1
            elif kind in "\n\r":
                start = -1
        elif pos == close + 1:
            continue  # the "(" right after "]"
        elif kind == ")" and pos > close + 2:
            images.append((start, pos + 1, text[start + 2:close], text[close + 2:pos]))
            start = close = -1
        else:  # whitespace, an empty target, or another bracket inside the target
            start, close = (pos, -1) if kind == "![" else (-1, -1)
    return images


def replace_images(text: str, replace: Callable[[str, str], str]) -> str:
    """``text`` with each Markdown image replaced by ``replace(alt, target)``."""
    if "![" not in text:
        return text
    out, last = [], 0
    for start, end, alt, target in markdown_images(text):
        out += [text[last:start], replace(alt, target)]
        last = end
    return "".join(out) + text[last:]


class MarkupBudget:
    """The HTML tags a file may ask us to convert; a file with more is refused, not parsed slowly."""

    def __init__(self) -> None:
        self.left = moodle_xml.MAX_MARKUP_TAGS

    def spend(self, fragment: str, where: str, issues: list[Issue]) -> bool:
        """Count the tags of ``fragment``; False (and one issue, the first time) once the file has
        used up its budget."""
        if self.left >= 0:
            self.left -= fragment.count("<")
            if self.left < 0:
                issues.append(Issue(where, "import.too_much_markup",
                                    f"HTML 标记过多（超过 {moodle_xml.MAX_MARKUP_TAGS:,} 个标签）：请把题库拆成几个文件",
                                    f"too much HTML markup (more than {moodle_xml.MAX_MARKUP_TAGS:,} tags): split the bank "
                                    "into several files"))
        return self.left >= 0


class ImageStore:
    """Checks images found in a file and keeps them under their content-hash names."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}

    def add(self, name: str, data: bytes, where: str) -> str | Issue:
        """The bank reference (``images/<hash>.<ext>``) for ``data``, or the located Issue."""
        checked = check_image(name, data)
        if isinstance(checked, Issue):
            return relocate(checked, loc(where, name))
        mime, safe = checked
        ref = "images/" + content_hash_name(safe, mime)
        self.images[ref] = safe
        return ref


def subject_issue(fname: str, subject: str | None) -> Issue | None:
    """An issue when the subject is missing or unknown."""
    if subject in SUBJECTS:
        return None
    return Issue(fname, "import.subject",
                 f"请选择学科（{'、'.join(SUBJECTS)}），文件中也没有可识别的学科分类",
                 f"choose a subject ({', '.join(SUBJECTS)}); the file names none either")


def finish(questions: list[dict], issues: list[Issue], notes: list[Issue],
           images: dict[str, bytes]) -> ParsedBank:
    """The ParsedBank of a whole import: all or nothing, and duplicate keys refused."""
    seen: dict[str, str] = {}
    for q in questions:
        if q["key"] in seen:
            issues.append(Issue(loc(q.pop("_where", ""), q["key"]), "key.duplicate",
                                f"编号（key）“{q['key']}”重复，已用于 {seen[q['key']]}",
                                f'key "{q["key"]}" is used twice (first at {seen[q["key"]]})'))
        else:
            seen[q["key"]] = q.pop("_where", "")
    if issues:
        return ParsedBank(questions=[], images={}, issues=issues, notes=notes)
    for q in questions:
        q.pop("_where", None)
    used = {ref for q in questions for ref in image_refs(q)}
    return ParsedBank(questions=questions, images={k: v for k, v in images.items() if k in used},
                      issues=[], notes=notes)


def accept(q: dict, where: str, issues: list[Issue], questions: list[dict]) -> None:
    """Validate ``q`` and keep its canonical form, or record its issues."""
    problems = validate_question(q, where=where)
    if problems:
        issues.extend(problems)
        return
    c = canonical(q)
    c["_where"] = where
    questions.append(c)

