"""The building blocks of question validation: ``Issue``, the limits, and the shared field checks.

Public callers use app.domain.questions. The layers, each importing only the ones below it:
question_rules (this module: Issue, limits, text/id/choice checks) ← question_types (one checker and
one canonical builder per question type) ← questions (common fields, the public API). Every check
tolerates any input shape (the input comes straight from a teacher's file), so validation never
raises.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

QUESTION_TYPES = ("single", "multiple", "true_false", "fill_blank", "ordering", "matching",
                  "short_answer", "group")
SUBJECTS = ("math", "physics", "chemistry", "biology", "cs")


@dataclass(frozen=True)
class Issue:
    """One problem (or note) about imported content, located and explained in Chinese and English.

    ``location`` reads like ``physics/kinematics.yaml · phy-kin-003 · answer``: file, question key
    and field, the parts that are known, joined by `` · ``; list positions count from 1.
    """

    location: str
    code: str
    zh: str
    en: str

    def message(self, lang: str = "zh") -> str:
        """``location: text`` in Chinese for any ``zh*`` language, in English otherwise."""
        text = self.zh if lang.lower().startswith("zh") else self.en
        return f"{self.location}: {text}" if self.location else text


KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CHOICE_ID = re.compile(r"[a-z0-9_]{1,16}")
BLANK_MARKER = re.compile(r"\{\{(\d{1,3})\}\}")  # the same marker app/domain/richtext.py renders
# Text limits in characters: stem/explanation/reference answer/rubric; option, item or prompt
# text; one accepted blank answer; unit; source/author/topic; one knowledge point path.
LIMITS = {"long": 20_000, "choice": 2_000, "answer": 500, "unit": 50, "meta": 200, "kp": 200}
MAX_POINTS, MAX_KNOWLEDGE_POINTS, MAX_PARTS = 1000, 20, 10

COMMON_FIELDS = ("key", "type", "stem", "points", "difficulty", "knowledge_points", "explanation",
           "source", "author")
META_FIELDS = ("subject", "topic")  # per question only at the top level (importers add them)
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "single": ("options", "answer"), "multiple": ("options", "answer"), "true_false": ("answer",),
    "fill_blank": ("blanks",), "ordering": ("items", "answer"),
    "matching": ("prompts", "options", "answer"), "short_answer": ("reference_answer", "rubric"),
    "group": ("parts",),
}

# Markdown image targets: ![alt](target "title") and ![alt](<target>).
_MD_IMAGE = re.compile(r"!\[[^\]\n]*+\]\(\s*+<?([^\s)>]*+)>?[^)\n]*+\)")  # possessive: linear on hostile input
_IMAGE_PATH = re.compile(r"images/[^\s\\?#:\x00-\x1f\x7f]+")  # as app/domain/richtext.py accepts
# "HTML with script": script-capable elements, on…= event attributes inside a tag, script URLs
# (looked for after decoding entities and removing whitespace, as browsers do in URLs).
_UNSAFE_TAG = re.compile(r"<\s*/?\s*(?:script|iframe|frame|object|embed|applet)\b", re.IGNORECASE)
# A tag, then attributes as HTML writes them (name, name=value, name="value"), then on…=. "/" is
# never part of a name or unquoted value, so the pattern cannot backtrack exponentially.
_EVENT_ATTR = re.compile(
    r"""<[a-z][a-z0-9-]*"""
    r"""(?:[\s/]+[^\s/<>="']+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>/]*))?)*?"""
    r"""[\s/]+on[a-z]+\s*=""",
    re.IGNORECASE)
_SCRIPT_URL = re.compile(r"(?:java|vb)script:|data:text/html", re.IGNORECASE)
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def join(*parts: str) -> str:
    """A location from its known parts: ``file · key · field``."""
    return " · ".join(p for p in parts if p)


def clean(text: str) -> str:
    """Canonical text: ``\\n`` line ends, no trailing whitespace on any line, trimmed at both ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def _same(text: str) -> str:
    # Two option texts are duplicates when equal after NFKC and whitespace collapsing.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def strings(obj: Any, path: str = "", skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every string inside ``obj`` with its field path (``options[2].text``), in document order;
    top-level keys named in ``skip`` are left out. Iterative, so any nesting depth is safe."""
    stack: list[tuple[str, Any]] = [(path, obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            items = [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()
                     if not (value is obj and k in skip)]
            stack.extend(reversed(items))
        elif isinstance(value, (list, tuple)):
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(value, 1)]))


def image_targets(text: str) -> list[str]:
    """The targets of the Markdown images in ``text``, as written."""
    return _MD_IMAGE.findall(text)


def is_image_path(target: str) -> bool:
    """True for a bank image reference: ``images/…`` without empty, ``.`` or ``..`` segments."""
    return bool(_IMAGE_PATH.fullmatch(target)) and not any(
        p in ("", ".", "..") for p in target.split("/"))


def unsafe_html(text: str) -> bool:
    """True when ``text`` holds HTML that could run script (the "HTML with script" rule)."""
    if _UNSAFE_TAG.search(text) or _EVENT_ATTR.search(text):
        return True
    compact = re.sub(r"[\s\x00-\x1f]+", "", html.unescape(text))
    return bool(_SCRIPT_URL.search(compact))


def is_number(value: Any) -> bool:
    """A finite int or float; ``True``/``False`` are not numbers."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def whole(value: float) -> int | float:
    """Points as stored: an int when whole (4.0 → 4), else the float."""
    value = round(float(value), 6)
    return int(value) if value.is_integer() else value


class Checker:
    """Collects the issues of one question, located under ``where``."""

    def __init__(self, q: dict, where: str, issues: list[Issue]) -> None:
        self.q, self.where, self.issues = q, where, issues
        self.seen_ids: set[str] = set()

    def add(self, fld: str, code: str, zh: str, en: str) -> None:
        self.issues.append(Issue(join(self.where, fld), code, zh, en))

    def missing(self, fld: str) -> None:
        self.add(fld, "field.missing", "必填字段缺失", "required field is missing")

    def text(self, value: Any, fld: str, limit: int, required: bool = True) -> str | None:
        """The cleaned text of ``value`` (the field ``fld``), or None (after any issue) if unusable."""
        if value is None:
            if required:
                self.missing(fld)
            return None
        if not isinstance(value, str):
            quote = isinstance(value, bool)
            self.add(fld, "field.not_text", "应为文字" + ("（true、false 等请加引号）" if quote else ""),
                     "must be text" + (' (put true, false etc. in quotes)' if quote else ""))
            return None
        text = clean(value)
        if required and not text:
            self.add(fld, "field.empty", "不能为空", "must not be empty")
            return None
        if len(text) > limit:
            self.add(fld, "text.too_long", f"过长：{len(text)} 字符，最多 {limit}",
                     f"too long: {len(text)} characters, at most {limit}")
        return text

    def ident(self, value: Any, fld: str) -> str | None:
        """A valid choice id (trimmed) or None after an issue."""
        if value is None:
            self.missing(fld)
            return None
        if isinstance(value, str) and CHOICE_ID.fullmatch(value.strip()):
            return value.strip()
        self.add(fld, "choice.bad_id", f"编号“{value}”不合规：只能用小写字母、数字和下划线，最长 16 个字符",
                 f'id "{value}" is not valid: use lower-case letters, digits and _ (at most 16)')
        return None

    def unknown_fields(self, obj: dict, allowed: tuple[str, ...], fld: str = "") -> None:
        for name in obj:
            if name not in allowed:
                self.add(join(fld, str(name)), "field.unknown",
                         f"未知字段“{name}”（此处可用：{'、'.join(allowed)}）",
                         f'unknown field "{name}" (allowed here: {", ".join(allowed)})')

    def choices(self, name: str, low: int, high: int) -> list[str] | None:
        """Check a list of ``{id, text}``; return its ids, or None when the list is unusable."""
        entries = self.q.get(name)
        if entries is None:
            self.missing(name)
            return None
        if not isinstance(entries, list):
            self.add(name, "choice.not_list", "应为列表，每项形如 {id: a, text: …}",
                     "must be a list of entries like {id: a, text: …}")
            return None
        if not low <= len(entries) <= high:
            self.add(name, "choice.count", f"应有 {low}–{high} 项，现有 {len(entries)} 项",
                     f"needs {low}–{high} entries, found {len(entries)}")
        ids: list[str] = []
        texts: set[str] = set()
        usable = True
        for i, entry in enumerate(entries, 1):
            fld = f"{name}[{i}]"
            if not isinstance(entry, dict):
                self.add(fld, "choice.not_mapping", "应形如 {id: a, text: …}",
                         "must look like {id: a, text: …}")
                usable = False
                continue
            self.unknown_fields(entry, ("id", "text"), fld)
            ident = self.ident(entry.get("id"), f"{fld}.id")
            if ident is not None and ident in self.seen_ids:
                self.add(f"{fld}.id", "choice.duplicate_id", f"编号“{ident}”在本题中重复",
                         f'id "{ident}" is used twice in this question')
                ident = None
            if ident is None:
                usable = False
            else:
                self.seen_ids.add(ident)
                ids.append(ident)
            text = self.text(entry.get("text"), f"{fld}.text", LIMITS["choice"])
            if text is not None:
                if _same(text) in texts:
                    self.add(f"{fld}.text", "choice.duplicate_text", f"内容“{text[:40]}”与前面的项重复",
                             f'text "{text[:40]}" repeats an earlier entry')
                texts.add(_same(text))
        return ids if usable else None

    def answer_ids(self, value: Any, ids: list[str], fld: str = "answer") -> list[str] | None:
        """Check a list of choice ids given as an answer; a lone id counts as a one-item list."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(fld, "answer.not_ids", "答案应为编号列表，例如 [a, c]",
                     "the answer must be a list of ids, e.g. [a, c]")
            return None
        given = [v.strip() for v in value]
        for ident in dict.fromkeys(given):
            if ident not in ids:
                self.missing_option(ident, fld)
            if given.count(ident) > 1:
                self.add(fld, "answer.repeated", f"答案中“{ident}”出现了多次",
                         f'"{ident}" is listed more than once')
        return given

    def missing_option(self, ident: str, fld: str = "answer") -> None:
        self.add(fld, "answer.missing_option", f"答案引用了不存在的选项“{ident}”",
                 f'answer names a missing option "{ident}"')

