"""Moodle XML question banks: importer and exporter ("moodle-xml", ``.xml``).

Reading (Moodle's documented XML format, one ``<quiz>`` of ``<question type=...>``):

* multichoice → ``single`` (``<single>true``: exactly one answer with fraction 100, no partial
  credit) or ``multiple`` (the answers with a positive fraction are the correct ones; their fractions
  must add up to 100 ± 0.01; negative fractions mark wrong options);
* truefalse → ``true_false``; shortanswer → ``fill_blank`` with one text blank (the answers with
  fraction 100 are accepted; ``usecase`` → ``case_sensitive``); numerical → ``fill_blank`` with one
  numeric blank (``tolerance`` → absolute tolerance, the unit with multiplier 1 → ``unit``). The blank
  goes where the stem has a run of three or more underscores, else at the end of the stem;
* matching → ``matching`` (subquestions with text are the prompts, the distinct answers the
  options; an empty subquestion adds a distractor option);
* essay → ``short_answer`` (``graderinfo`` → ``rubric``; a grader info written by our exporter as
  【参考答案】…【评分标准】… gives back both fields; ``responsetemplate`` is ignored);
* description and random → skipped with a note; category → the topic (last path segment) and the
  default knowledge point (the path) of the questions that follow; ``<tags>`` → knowledge points,
  except tags ``难度:3``, ``来源:…``, ``作者:…`` (Moodle has no such fields; our exporter writes them);
* ``idnumber`` → key, else a slug of the subject and ``name``; ``defaultgrade`` → points;
  ``generalfeedback`` → explanation;
* HTML texts become the bank's Markdown-like text (html_to_text); ``<file encoding="base64">``
  images referenced as ``@@PLUGINFILE@@/name`` are checked and stored as ``images/<content hash>``.

The file is parsed with defusedxml with DTDs forbidden (so no entity of any kind, internal or
external, is ever expanded) after cheap checks: at most 50 MB, and no more ``<`` than the element
and markup limits allow; while parsing, at most 64 levels and 100,000 elements; at most 50,000
HTML tags converted per file. Everything is validated before anything is returned: any issue means
an empty bank and the full list of located issues.

Writing: single, multiple, true_false, fill_blank with one blank, matching and short_answer. Not
expressible in Moodle XML (reported per question): ordering, material groups, fill-in with several
blanks, images inside matching options. Option, prompt and item ids are not carried (Moodle has
none): an import numbers options a, b, c … and prompts p1, p2 … in document order, and images get
content-hash names. A relative tolerance is written as the equal absolute one.

The text conversion and the key/id helpers at the top are shared with gift.py and excel.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import posixpath
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from app.domain.images import check_image, content_hash_name
from app.domain.questions import SUBJECTS, Issue, ParsedBank, canonical, image_refs, validate_question
from app.formats.registry import ExportResult, register_exporter, register_importer

NAME = "moodle-xml"
MAX_XML_BYTES = 50_000_000  # refused before parsing
MAX_XML_DEPTH = 64  # Moodle XML nests about 6 deep
MAX_XML_ELEMENTS = 100_000  # about 2,500 questions of ~40 elements; parsing stays well within 2 s
MAX_ISSUES = 500  # per file; a hostile file must not produce an unbounded report
MAX_QUESTIONS = 5_000  # per file: validating one takes ~0.3 ms, so a file stays within ~2 s
MAX_ANSWERS = 50  # per question (a bank question has at most 12 options); more is refused unread
MAX_MARKUP_TAGS = 50_000  # HTML tags converted per file (HTMLParser needs ~10 µs per tag)
# Every element and every HTML tag starts with "<": a file with more of them than both limits allow
# is refused by counting bytes, before any parsing.
MAX_XML_TAGS = 2 * MAX_XML_ELEMENTS + MAX_MARKUP_TAGS

# === shared by the text formats (gift.py and excel.py import these) ===========================

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
        self.left = MAX_MARKUP_TAGS

    def spend(self, fragment: str, where: str, issues: list[Issue]) -> bool:
        """Count the tags of ``fragment``; False (and one issue, the first time) once the file has
        used up its budget."""
        if self.left >= 0:
            self.left -= fragment.count("<")
            if self.left < 0:
                issues.append(Issue(where, "import.too_much_markup",
                                    f"HTML 标记过多（超过 {MAX_MARKUP_TAGS:,} 个标签）：请把题库拆成几个文件",
                                    f"too much HTML markup (more than {MAX_MARKUP_TAGS:,} tags): split the bank "
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


# --- HTML → the bank's Markdown-like text ---------------------------------------------------

# Private-use stand-ins while converting; removed from the input first so none can be forged.
_PARA, _BR, _BOLD, _ITAL, _RAW_OPEN, _RAW_CLOSE, _FENCE = (
    "\ue020", "\ue021", "\ue022", "\ue023", "\ue024", "\ue025", "\ue026")
_SENTINELS = {ord(c): None for c in (_PARA, _BR, _BOLD, _ITAL, _RAW_OPEN, _RAW_CLOSE, _FENCE)}
_SKIP_CONTENT = {"script", "style", "head", "title", "template", "iframe", "object", "embed",
                 "noscript", "svg", "math", "textarea", "select", "audio", "video", "canvas"}
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "table",
           "section", "article", "header", "footer", "figure", "figcaption", "hr", "center",
           "address", "dl", "form", "fieldset", "main", "nav", "aside"}
_MAX_MARKS = 32  # inline formatting nested deeper than this is kept as plain text
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_SIMPLE_SCRIPT = re.compile(r"[A-Za-z0-9+\-=.,()' ]*")
# The image callback: (src, alt) → a bank reference ``images/...`` or None to drop the image.
ImageResolver = Callable[[str, str], "str | None"]


class _HtmlToText(HTMLParser):
    """One pass over an HTML fragment, producing text with private-use stand-ins (see html_to_text)."""

    def __init__(self, image: ImageResolver | None) -> None:
        super().__init__(convert_charrefs=True)
        self.image = image
        self.out: list[str] = []
        self.skip = 0  # depth inside elements whose content is dropped
        self.pre = 0
        self.pre_open = -1  # where the current fence's opening line is in out
        self.marks: list[tuple[str, int]] = []  # open sub/sup/b/i/code and where they began
        self.open_count: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT:
            self.skip += 1
            return
        if self.skip:
            return
        if tag in _BLOCKS:
            self.out.append(_PARA)
        elif tag == "li":
            self.out.append(_BR + "- ")
        elif tag == "tr":
            self.out.append(_BR)
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "br":
            self.out.append(_BR)
        elif tag == "pre":
            self.pre += 1
            self.pre_open = len(self.out)
            self.out.append(_FENCE + _RAW_OPEN + "```\n")
            self._language(attrs)
        elif tag == "img":
            self._image(dict(attrs))
        elif tag == "code" and self.pre:
            self._language(attrs)
        elif tag in ("b", "strong", "i", "em", "sub", "sup", "code", "tt") and len(self.marks) < _MAX_MARKS:
            self.marks.append((tag, len(self.out)))
            self.open_count[tag] = self.open_count.get(tag, 0) + 1

    def _language(self, attrs: list[tuple[str, str | None]]) -> None:
        """A ``class="language-x"`` on <pre> or its <code> names the fence's language."""
        match = _LANGUAGE.search(dict(attrs).get("class") or "")
        if match and self.pre_open == len(self.out) - 1:
            self.out[self.pre_open] = _FENCE + _RAW_OPEN + f"```{match[1]}\n"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "img", "hr"):
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in _BLOCKS:
            self.out.append(_PARA)
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self.pre_open = -1
            self.out.append("\n```" + _RAW_CLOSE + _FENCE)
        elif self.open_count.get(tag):
            while self.marks:
                open_tag, start = self.marks.pop()
                self.open_count[open_tag] -= 1
                if open_tag == tag:
                    self._close_mark(tag, start)
                    break

    def _close_mark(self, tag: str, start: int) -> None:
        inner = "".join(self.out[start:])
        del self.out[start:]
        stripped = inner.strip(" ")
        if not stripped.strip():
            self.out.append(inner)
            return
        lead = " " if inner.startswith(" ") else ""
        trail = " " if inner.endswith(" ") else ""
        if tag in ("sub", "sup"):
            body = stripped if _SIMPLE_SCRIPT.fullmatch(stripped) else "\\text{" + stripped + "}"
            if "$" in stripped or any(c in stripped for c in _SENTINELS_CHARS):
                self.out.append(inner)  # already math or structured: keep the text as it is
                return
            self.out.append(f"{lead}{_RAW_OPEN}${'_' if tag == 'sub' else '^'}{{{body}}}${_RAW_CLOSE}{trail}")
        elif tag in ("code", "tt"):
            if self.pre:
                self.out.append(inner)
            else:
                self.out.append(f"{lead}{_RAW_OPEN}`{stripped}`{_RAW_CLOSE}{trail}")
        else:
            mark = _BOLD if tag in ("b", "strong") else _ITAL
            if stripped.startswith(mark) and stripped.endswith(mark) and len(stripped) > 1:
                mark = ""  # <b><b>x</b></b> is bold once
            self.out.append(f"{lead}{mark}{stripped}{mark}{trail}")

    def _image(self, attrs: dict[str, str | None]) -> None:
        src, alt = (attrs.get("src") or "").strip(), " ".join((attrs.get("alt") or "").split())
        ref = self.image(src, alt) if self.image else None
        if ref:
            alt = alt.replace("[", "").replace("]", "")
            self.out.append(f"{_RAW_OPEN}![{alt}]({ref}){_RAW_CLOSE}")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = data.translate(_SENTINELS)
        if self.pre:
            self.out.append(data)
        else:
            self.out.append(_HTML_SPACE.sub(" ", data.replace("\xa0", " ")))


_SENTINELS_CHARS = (_PARA, _BR, _BOLD, _ITAL, _RAW_OPEN, _RAW_CLOSE, _FENCE)
_LANGUAGE = re.compile(r"(?:^|\s)language-([a-z0-9_+#-]{1,24})(?:\s|$)")


def _convert_math_and_escape(text: str) -> str:
    """Outside raw spans: ``\\(..\\)`` → ``$..$``, ``\\[..\\]`` → ``$$..$$``; a ``*`` outside math
    is escaped (``\\*``) so that it stays a star. One left-to-right scan: a closer that was not
    found is remembered, so the scan stays linear."""
    out: list[str] = []
    i, n = 0, len(text)
    cache: dict[str, tuple[int, int]] = {}  # needle → (searched from, found at or -1)

    def find(needle: str, start: int) -> int:
        # The next occurrence at or after ``start``; i only grows, so each needle is scanned once.
        if needle in cache:
            since, pos = cache[needle]
            if since <= start and (pos < 0 or pos >= start):
                return pos
        pos = text.find(needle, start)
        cache[needle] = (start, pos)
        return pos

    while i < n:
        found = _CONVERT_JUMP.search(text, i)
        if found is None:
            out.append(text[i:])
            break
        out.append(text[i:found.start()])
        i = found.start()
        ch = text[i]
        if ch == _RAW_OPEN:
            end = find(_RAW_CLOSE, i)
            end = n if end < 0 else end
            out.append(text[i + 1:end])
            i = end + 1
            continue
        done = False
        if ch in "\\$":
            for opener, closer, new_open in _MATH_PAIRS:
                if not text.startswith(opener, i) or (opener == "$" and i and text[i - 1] == "\\"):
                    continue
                end = find(closer, i + len(opener))
                raw = find(_RAW_OPEN, i)
                if end >= 0 and (raw < 0 or raw > end):
                    body = text[i + len(opener):end].strip()
                    if body:
                        out.append(new_open + body + new_open)
                        i = end + len(closer)
                        done = True
                        break
        if not done:
            out.append("\\*" if ch == "*" else ch)
            i += 1
    return "".join(out)


_CONVERT_JUMP = re.compile("[\ue024\\\\$*]")  # what _convert_math_and_escape acts on
_MATH_PAIRS = (("\\(", "\\)", "$"), ("\\[", "\\]", "$$"), ("$$", "$$", "$$"), ("$", "$", "$"))


def html_to_text(fragment: str, image: ImageResolver | None = None) -> str:
    """An HTML fragment as the bank's Markdown-like text.

    Kept: paragraphs (blank line), ``<br>`` (newline), bold ``**x**``, italic ``*x*``, ``<sub>`` /
    ``<sup>`` as math ``$_{x}$`` / ``$^{x}$``, code (backticks, ``<pre>`` as a fenced block), list
    items as ``- ``, images as ``![alt](images/...)`` when ``image(src, alt)`` gives a reference,
    TeX as ``$...$`` / ``$$...$$`` (``\\(..\\)`` and ``\\[..\\]`` are converted). Script, style and
    similar elements are dropped with their content; every other tag is removed and its text kept.
    """
    parser = _HtmlToText(image)
    parser.feed(fragment.translate(_SENTINELS))
    parser.close()
    while parser.marks:  # unclosed inline tags: close them where the text ends
        tag, start = parser.marks.pop()
        parser._close_mark(tag, start)
    if parser.pre:
        parser.out.append("\n```" + _RAW_CLOSE)
    text = _convert_math_and_escape("".join(parser.out))
    text = text.replace(_BOLD, "**").replace(_ITAL, "*")
    # Spaces around line breaks go; a paragraph or two breaks make one blank line; a code fence
    # stands on its own lines (a fence needs no blank line around it).
    pieces = re.split(r"([\ue020\ue021\ue026][ \ue020\ue021\ue026]*)", text)
    for k in range(0, len(pieces), 2):
        piece = pieces[k].rstrip(" ") if k + 1 < len(pieces) else pieces[k]
        pieces[k] = piece.lstrip(" ") if k else piece
    for k in range(1, len(pieces), 2):
        breaks = pieces[k].replace(" ", "")
        pieces[k] = "\n" if _FENCE in breaks else "\n\n" if _PARA in breaks or len(breaks) > 1 else "\n"
    text = "".join(pieces)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


# --- the bank's text → HTML ------------------------------------------------------------------

_BOLD_MD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.DOTALL)
_ITAL_MD = re.compile(r"(?<![\\*])\*(?=[^\s*])([^*\n]*?[^\s*\\]|[^\s*\\])\*(?!\*)")


def _plain_html(text: str) -> str:
    html = escape(text, quote=False)
    html = _BOLD_MD.sub(r"<b>\1</b>", html)
    html = _ITAL_MD.sub(r"<i>\1</i>", html)
    return html.replace("\\*", "*").replace("\n", "<br>")


def _inline_html(text: str, image_src: Callable[[str], str]) -> str:
    """Inline conversion: math and code kept verbatim (escaped), images to ``<img>``."""
    out: list[str] = []
    plain_start = i = 0
    n = len(text)
    images = {start: (end, alt, target) for start, end, alt, target in markdown_images(text)
              if target.startswith("images/")}

    def flush(upto: int) -> None:
        if upto > plain_start:
            out.append(_plain_html(text[plain_start:upto]))

    while i < n:
        ch = text[i]
        span = None
        if ch == "\\" and text.startswith(("\\(", "\\["), i):
            end = text.find("\\)" if text[i + 1] == "(" else "\\]", i + 2)
            span = (end + 2, escape(text[i:end + 2], quote=False)) if end >= 0 else None
        elif ch == "\\" and i + 1 < n:
            i += 2  # an escaped character belongs to the plain text
            continue
        elif ch == "$":
            opener = "$$" if text.startswith("$$", i) else "$"
            end = text.find(opener, i + len(opener))
            if end > i + len(opener):
                body = escape(text[i + len(opener):end], quote=False)
                span = (end + len(opener), f"\\({body}\\)" if opener == "$" else f"$${body}$$")
        elif ch == "`":
            end = text.find("`", i + 1)
            if end > i:
                span = (end + 1, f"<code>{escape(text[i + 1:end], quote=False)}</code>")
        elif ch == "!" and i in images:
            end, alt, target = images[i]
            span = (end, f'<img src="{escape(image_src(target))}" alt="{escape(alt)}">')
        if span is None:
            i += 1
            continue
        flush(i)
        out.append(span[1])
        i = plain_start = span[0]
    flush(n)
    return "".join(out)


def text_to_html(text: str, image_src: Callable[[str], str] = lambda ref: ref) -> str:
    """The bank's Markdown-like text as simple HTML, the inverse of html_to_text for the shapes it
    keeps: blank lines → ``<p>``, newlines → ``<br>``, ``**x**`` → ``<b>``, ``*x*`` → ``<i>``,
    fenced code → ``<pre>``, ``$x$`` → ``\\(x\\)`` (Moodle's default TeX delimiters), ``$$x$$``
    kept, images → ``<img src=image_src(ref)>``."""
    blocks: list[str] = []
    lines = text.split("\n")
    para: list[str] = []
    i = 0

    def end_para() -> None:
        chunk = "\n".join(para).strip("\n")
        para.clear()
        for piece in re.split(r"\n[ \t]*\n+", chunk):
            if piece.strip():
                blocks.append(f"<p>{_inline_html(piece, image_src)}</p>")

    while i < len(lines):
        if lines[i].startswith("```"):
            close = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if close is not None:
                end_para()
                code = escape("\n".join(lines[i + 1:close]), quote=False)
                language = _LANGUAGE.search("language-" + lines[i][3:].strip())
                attrs = f' class="language-{language[1]}"' if language else ""
                blocks.append(f"<pre><code{attrs}>{code}</code></pre>")
                i = close + 1
                continue
        para.append(lines[i])
        i += 1
    end_para()
    return "".join(blocks)


# === import ====================================================================================

class _TooBig(Exception):
    """Raised from inside the parser when the document nests too deeply or has too many elements."""


class _LineTreeBuilder(ET.TreeBuilder):
    """A tree builder that remembers the source line where each element starts, and stops the
    parse when the depth or the number of elements passes its limit."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[ET.Element, int] = {}
        self.parser: DefusedXMLParser | None = None
        self.depth = self.count = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:  # type: ignore[override]
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _TooBig("depth")
        self.count += 1
        if self.count > MAX_XML_ELEMENTS:
            raise _TooBig("elements")
        element = super().start(tag, attrs)
        if self.parser is not None and (tag == "question" or self.count == 1):
            self.lines[element] = self.parser.parser.CurrentLineNumber
        return element

    def end(self, tag: str) -> ET.Element:  # type: ignore[override]
        self.depth -= 1
        return super().end(tag)


def _inner(el: ET.Element | None) -> str:
    """The content of ``<text>``: its text, or, when HTML was written unescaped (without CDATA)
    and so parsed as XML elements, that markup again."""
    if el is None:
        return ""
    if len(el) == 0:
        return el.text or ""
    return (el.text or "") + "".join(ET.tostring(child, encoding="unicode") for child in el)


def _entity_issue(where: str) -> Issue:
    return Issue(where, "xml.entities",
                 "不允许 DTD 或实体（DOCTYPE/ENTITY）：出于安全原因拒绝此文件；请从 Moodle 重新导出",
                 "entities not allowed: DTDs and entities (DOCTYPE/ENTITY) are refused for safety; "
                 "export the file from Moodle again")


def read_xml(fname: str, data: bytes) -> tuple[ET.Element | None, dict[ET.Element, int], Issue | None]:
    """Parse ``data`` safely: size first, then defusedxml with DTDs forbidden. Returns the root
    and the element → line map, or an issue."""
    if len(data) > MAX_XML_BYTES:
        return None, {}, Issue(fname, "xml.too_large",
                               f"文件过大：{len(data) / 1e6:.1f} MB，上限 {MAX_XML_BYTES // 1_000_000} MB",
                               f"file too large: {len(data) / 1e6:.1f} MB, the limit is "
                               f"{MAX_XML_BYTES // 1_000_000} MB")
    tags = data.count(b"<")
    if tags > MAX_XML_TAGS:
        return None, {}, Issue(fname, "xml.too_many_elements",
                               f"XML 标签过多（{tags:,} 个，上限 {MAX_XML_TAGS:,}）：请把题库拆成几个文件",
                               f"too many XML tags ({tags:,}, at most {MAX_XML_TAGS:,}): split the bank into "
                               "several files")
    builder = _LineTreeBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        return None, {}, _entity_issue(at_line(fname, parser.parser.CurrentLineNumber))
    except _TooBig as exc:
        where = at_line(fname, parser.parser.CurrentLineNumber)
        if str(exc) == "depth":
            return None, {}, Issue(where, "xml.too_deep", f"XML 嵌套超过 {MAX_XML_DEPTH} 层，不是 Moodle 题库",
                                   f"XML nested deeper than {MAX_XML_DEPTH} levels: not a Moodle question file")
        return None, {}, Issue(where, "xml.too_many_elements",
                               f"XML 元素超过 {MAX_XML_ELEMENTS:,} 个：请把题库拆成几个文件",
                               f"more than {MAX_XML_ELEMENTS:,} XML elements: split the bank into several files")
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        reason = str(exc).split(":")[0]
        if "entity" in reason:
            return None, {}, _entity_issue(at_line(fname, line))
        return None, {}, Issue(at_line(fname, line), "xml.malformed", f"XML 格式错误：{reason}",
                               f"malformed XML: {reason}")
    return root, builder.lines, None


_FIELDS = ("stem", "options", "answer", "blanks", "prompts")


class _QuestionReader:
    """Turns the ``<question>`` elements of one file into question dicts."""

    def __init__(self, fname: str, subject: str | None, lines: dict[ET.Element, int],
                 store: ImageStore, used_keys: Keys) -> None:
        self.fname, self.subject, self.lines = fname, subject, lines
        self.store, self.used_keys = store, used_keys
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.questions: list[dict] = []
        self.topic = posixpath.splitext(posixpath.basename(fname))[0] or fname
        self.category_kps: list[str] = []
        self.files: dict[str, ET.Element] = {}
        self.budget = MarkupBudget()

    # -- helpers --
    def issue(self, where: str, code: str, zh: str, en: str) -> None:
        self.issues.append(Issue(where, code, zh, en))

    def note(self, where: str, code: str, zh: str, en: str) -> None:
        self.notes.append(Issue(where, code, zh, en))

    def rich(self, el: ET.Element | None, where: str) -> str:
        """The text of a Moodle text element (``<x format=..><text>..</text><file/>..</x>``)."""
        if el is None:
            return ""
        fmt = el.get("format", "html")
        raw = _inner(el.find("text"))
        if fmt in ("plain_text", "markdown"):
            return raw.strip()
        if fmt == "moodle_auto_format":
            raw = raw.replace("\r\n", "\n").replace("\n", "<br>")
        if not self.budget.spend(raw, where, self.issues):
            return ""
        own = {self._file_key(f): f for f in el.findall("file")}
        return html_to_text(raw, lambda src, alt: self.image(src, own, where))

    @staticmethod
    def _file_key(el: ET.Element) -> str:
        path = (el.get("path") or "/").strip("/")
        return f"{path}/{el.get('name', '')}" if path else el.get("name", "")

    def image(self, src: str, own: dict[str, ET.Element], where: str) -> str | None:
        """A bank reference for an ``<img src>`` of the file, or None (after an issue or a note)."""
        if src.startswith("@@PLUGINFILE@@/"):
            name = unquote(src[len("@@PLUGINFILE@@/"):].split("?")[0])
            el = own.get(name) or self.files.get(name)
            if el is None:
                self.issue(where, "image.missing", f"图片“{name}”在文件中不存在",
                           f'image "{name}" is not in the file')
                return None
            data = self._decode(el.text or "", where, name)
        elif src.startswith("data:"):
            header, _, payload = src.partition(",")
            name = "inline-image"
            if not header.endswith(";base64"):
                self.issue(where, "image.bad_data", "内嵌图片不是 base64 编码", "inline image is not base64")
                return None
            data = self._decode(payload, where, name)
        else:
            self.note(where, "image.external", f"外部图片已忽略（不从网络下载）：{src[:80]}",
                      f"external image dropped (never fetched): {src[:80]}")
            return None
        if data is None:
            return None
        ref = self.store.add(name, data, where)
        if isinstance(ref, Issue):
            self.issues.append(ref)
            return None
        return ref

    def _decode(self, payload: str, where: str, name: str) -> bytes | None:
        try:
            return base64.b64decode("".join(payload.split()), validate=False)
        except (binascii.Error, ValueError):
            self.issue(where, "image.bad_base64", f"图片“{name}”的 base64 数据损坏",
                       f'image "{name}" has broken base64 data')
            return None

    def plain(self, el: ET.Element, path: str) -> str:
        return " ".join((el.findtext(path) or "").split())

    def fraction(self, el: ET.Element, where: str) -> float | None:
        value = finite_number(el.get("fraction", "0"))
        if value is None:
            self.issue(where, "moodle.fraction", f"fraction“{el.get('fraction')}”不是数字",
                       f'fraction "{el.get("fraction")}" is not a number')
        return value

    # -- questions --
    def read(self, root: ET.Element) -> None:
        if root.tag != "quiz":
            self.issue(at_line(self.fname, self.lines.get(root)), "moodle.not_quiz",
                       f"不是 Moodle XML 题库：根元素应为 <quiz>，实际为 <{root.tag}>",
                       f"not a Moodle XML question file: the root must be <quiz>, found <{root.tag}>")
            return
        elements = root.findall("question")
        if len(elements) > MAX_QUESTIONS:
            self.issues.append(too_many(self.fname, "题目", "questions", len(elements), MAX_QUESTIONS))
            return
        for n, el in enumerate(elements, 1):
            if self.budget.left < 0:
                return
            if len(self.issues) >= MAX_ISSUES:
                self.issue(self.fname, "import.too_many_issues", "问题过多，其余未列出",
                           "too many problems; the rest are not listed")
                return
            self.question(el, n)

    def category(self, el: ET.Element) -> None:
        text = self.plain(el, "category/text")
        subject, parts = category_path(text)
        if subject and not self.subject:
            self.subject = subject
        elif subject and subject != self.subject:
            self.note(at_line(self.fname, self.lines.get(el)), "import.category_subject",
                      f"分类“{text}”属于 {subject}，按所选学科 {self.subject} 导入",
                      f'category "{text}" names {subject}; imported into the chosen subject {self.subject}')
        if parts:
            self.topic = parts[-1]
            self.category_kps = ["/".join(parts)]
        else:
            self.category_kps = []

    def question(self, el: ET.Element, n: int) -> None:
        qtype = el.get("type", "")
        where = at_line(self.fname, self.lines.get(el))
        if qtype == "category":
            self.category(el)
            return
        if qtype in ("description", "random"):
            self.note(where, f"moodle.skipped_{qtype}",
                      "说明（description）不是试题，已跳过" if qtype == "description" else "随机题占位已跳过",
                      f"a {qtype} item is not a question; skipped")
            return
        handler = _HANDLERS.get(qtype)
        parts = len(el.findall("answer")) + len(el.findall("subquestion"))
        if handler is not None and parts > MAX_ANSWERS:
            self.issues.append(too_many(where, "答案", "answers", parts, MAX_ANSWERS))
            return
        if handler is None:
            self.issue(where, "moodle.unsupported_type",
                       f"不支持的 Moodle 题型“{qtype}”，请删除此题或改为支持的题型",
                       f'unsupported Moodle question type "{qtype}": remove it or change its type')
            return
        self.files = {self._file_key(f): f for f in el.iter("file")}
        name = self.plain(el, "name/text")
        idnumber = self.plain(el, "idnumber")
        if idnumber:
            key = idnumber
            self.used_keys.add(key)
        else:
            key = make_key(self.subject, name or self.plain(el, "questiontext/text")[:200], self.used_keys)
        here = loc(where, key)
        q: dict[str, Any] = {"key": key, "type": None, "stem": self.rich(el.find("questiontext"), here)}
        grade = el.findtext("defaultgrade")
        if grade is not None and grade.strip():
            points = finite_number(grade)
            if points is None:
                self.issue(loc(here, "points"), "moodle.grade", f"defaultgrade“{grade}”不是数字",
                           f'defaultgrade "{grade}" is not a number')
                return
            q["points"] = points_value(points)
        else:
            q["points"] = 1
        explanation = self.rich(el.find("generalfeedback"), loc(here, "explanation"))
        if explanation:
            q["explanation"] = explanation
        tags = [" ".join((t.findtext("text") or "").split()) for t in el.findall("tags/tag")]
        kps = []
        for tag in filter(None, tags):
            name, colon, value = tag.partition(":")
            field = _META_TAGS.get(name.strip().casefold()) if colon else None
            if field == "difficulty":
                level = finite_number(value)
                q["difficulty"] = points_value(level) if level is not None else value
            elif field:
                q[field] = value.strip()
            else:
                kps.append(tag)
        kps = kps or list(self.category_kps)
        if kps:
            q["knowledge_points"] = kps
        before = len(self.issues)
        handler(self, el, q, here)
        if len(self.issues) > before:
            return
        if self.subject:
            q["subject"] = self.subject
        q["topic"] = self.topic
        accept(q, where, self.issues, self.questions)

    def multichoice(self, el: ET.Element, q: dict, here: str) -> None:
        answers = el.findall("answer")
        ids = option_ids(len(answers))
        fractions = [self.fraction(a, loc(here, f"answer[{i}]")) for i, a in enumerate(answers, 1)]
        q["options"] = [{"id": ids[i], "text": self.rich(a, loc(here, f"options[{i + 1}]"))}
                        for i, a in enumerate(answers)]
        if any(f is None for f in fractions):
            return
        single = (el.findtext("single") or "true").strip().lower() in ("true", "1", "yes")
        if single:
            full = [i for i, f in enumerate(fractions) if abs(f - 100) <= 0.01]
            partial = [i for i, f in enumerate(fractions) if 0 < f < 100 - 0.01]
            if len(full) != 1 or partial:
                self.issue(loc(here, "answer"), "moodle.single_fraction",
                           f"单选题应恰有一个 fraction 为 100 的答案且不设部分得分（现有 {len(full)} 个 100，"
                           f"{len(partial)} 个部分得分）",
                           f"a single-answer question needs exactly one answer with fraction 100 and no "
                           f"partial credit (found {len(full)} at 100, {len(partial)} partial)")
                return
            q["type"], q["answer"] = "single", ids[full[0]]
            return
        positive = [i for i, f in enumerate(fractions) if f > 0]
        total = sum(fractions[i] for i in positive)
        if not positive or abs(total - 100) > 0.01:
            self.issue(loc(here, "answer"), "moodle.multiple_fraction",
                       f"多选题中正确答案的 fraction 之和应为 100，实为 {total:g}",
                       f"the fractions of the correct answers must add up to 100, they add up to {total:g}")
            return
        if len({round(fractions[i], 2) for i in positive}) > 1:
            self.note(loc(here, "answer"), "moodle.unequal_weights",
                      "各正确选项权重不同，导入后按考试的多选计分规则计分",
                      "correct options had unequal weights; the exam's multiple-choice policy scores them")
        q["type"], q["answer"] = "multiple", [ids[i] for i in positive]

    def truefalse(self, el: ET.Element, q: dict, here: str) -> None:
        q["type"] = "true_false"
        for i, a in enumerate(el.findall("answer"), 1):
            fraction = self.fraction(a, loc(here, f"answer[{i}]"))
            if fraction is not None and abs(fraction - 100) <= 0.01:
                value = _TRUTH.get(self.plain(a, "text").casefold())
                if value is None:
                    break
                q["answer"] = value
                return
        self.issue(loc(here, "answer"), "moodle.truefalse",
                   "判断题需要一个 fraction 为 100 的 true 或 false 答案",
                   "a true/false question needs one answer, true or false, with fraction 100")

    def _full_answers(self, el: ET.Element, here: str) -> list[ET.Element] | None:
        full, partial = [], 0
        for i, a in enumerate(el.findall("answer"), 1):
            fraction = self.fraction(a, loc(here, f"answer[{i}]"))
            if fraction is None:
                return None
            if abs(fraction - 100) <= 0.01:
                full.append(a)
            elif fraction > 0:
                partial += 1
        if partial:
            self.note(loc(here, "blanks[1]"), "moodle.partial_dropped",
                      f"{partial} 个部分得分答案未导入（本系统的填空只有全对答案）",
                      f"{partial} partial-credit answer(s) not imported (blanks here have only full-credit answers)")
        if not full:
            self.issue(loc(here, "blanks[1]"), "moodle.no_full_answer", "没有 fraction 为 100 的答案",
                       "no answer has fraction 100")
            return None
        return full

    def shortanswer(self, el: ET.Element, q: dict, here: str) -> None:
        full = self._full_answers(el, here)
        if full is None:
            return
        answers = list(dict.fromkeys(a for a in ((x.findtext("text") or "").strip() for x in full) if a))
        if any("*" in a for a in answers):
            self.note(loc(here, "blanks[1]"), "moodle.wildcard", "通配符 * 按普通字符处理",
                      "the wildcard * is taken literally")
        blank: dict[str, Any] = {"answers": answers}
        if (el.findtext("usecase") or "0").strip() in ("1", "true"):
            blank["case_sensitive"] = True
        q["type"], q["stem"], q["blanks"] = "fill_blank", put_blank(q["stem"]), [blank]

    def numerical(self, el: ET.Element, q: dict, here: str) -> None:
        full = self._full_answers(el, here)
        if full is None:
            return
        specs = set()
        for a in full:
            text = (a.findtext("text") or "").strip()
            if text == "*":
                continue
            value, tolerance = finite_number(text), finite_number(a.findtext("tolerance") or "0")
            if value is None or tolerance is None:
                self.issue(loc(here, "blanks[1]"), "moodle.numeric", f"数值答案“{text}”无法识别",
                           f'numeric answer "{text}" is not a number')
                return
            specs.add((value, abs(tolerance)))
        if len(specs) != 1:
            self.issue(loc(here, "blanks[1]"), "moodle.numeric_several",
                       "有多个不同的满分数值答案，本系统每空只能有一个数值（值 ± 误差）",
                       "several different full-credit numbers: a blank here holds one value ± tolerance")
            return
        value, tolerance = specs.pop()
        blank: dict[str, Any] = {"numeric": {"value": value, "tolerance": tolerance}}
        units = [(finite_number(u.findtext("multiplier") or "1"), self.plain(u, "unit_name"))
                 for u in el.findall("units/unit")]
        base = [name for mult, name in units if mult == 1 and name]
        if base:
            blank["unit"] = base[0]
        if len(units) > len(base[:1]):
            self.note(loc(here, "blanks[1]"), "moodle.units_dropped", "换算单位（倍数不为 1 的单位）未导入",
                      "units with a multiplier other than 1 were not imported")
        q["type"], q["stem"], q["blanks"] = "fill_blank", put_blank(q["stem"]), [blank]

    def matching(self, el: ET.Element, q: dict, here: str) -> None:
        prompts: list[dict] = []
        options: list[dict] = []
        by_text: dict[str, str] = {}
        answer: dict[str, str] = {}
        for i, sub in enumerate(el.findall("subquestion"), 1):
            right = " ".join((sub.findtext("answer/text") or "").split())
            if not right:
                continue
            if right not in by_text:
                by_text[right] = option_id(len(options))
                options.append({"id": by_text[right], "text": right})
            left = self.rich(sub, loc(here, f"prompts[{i}]"))
            if left:
                pid = f"p{len(prompts) + 1}"
                prompts.append({"id": pid, "text": left})
                answer[pid] = by_text[right]
        q.update(type="matching", prompts=prompts, options=options, answer=answer)

    def essay(self, el: ET.Element, q: dict, here: str) -> None:
        info = self.rich(el.find("graderinfo"), loc(here, "rubric"))
        q["type"] = "short_answer"
        match = re.fullmatch(r"【参考答案】\s*(.*?)\s*(?:【评分标准】\s*(.*))?", info, re.DOTALL)
        if match:
            q["reference_answer"] = match[1]
            if match[2]:
                q["rubric"] = match[2].strip()
        elif info:
            # Moodle has no reference answer; the grader information is the rubric (as documented).
            q["rubric"] = info
            q["reference_answer"] = "见评分标准（see the rubric）"
            self.note(loc(here, "reference_answer"), "moodle.no_reference_answer",
                      "Moodle 论述题没有参考答案，已写“见评分标准”，请补充",
                      "Moodle essays have no reference answer; set to “see the rubric”, please complete it")
        else:
            self.issue(loc(here, "reference_answer"), "moodle.essay_no_graderinfo",
                       "论述题（essay）需要参考答案：请在“评分者信息”（graderinfo）中填写",
                       "an essay needs a reference answer: fill in its information for graders (graderinfo)")


# Moodle has no difficulty, source or author: they travel as tags "难度:3", "来源:…", "作者:…".
_META_TAGS = {"难度": "difficulty", "difficulty": "difficulty", "来源": "source", "source": "source",
              "作者": "author", "author": "author"}
_TRUTH = {"true": True, "false": False, "正确": True, "错误": False, "对": True, "错": False}
_HANDLERS: dict[str, Callable[[_QuestionReader, ET.Element, dict, str], None]] = {
    "multichoice": _QuestionReader.multichoice, "truefalse": _QuestionReader.truefalse,
    "shortanswer": _QuestionReader.shortanswer, "numerical": _QuestionReader.numerical,
    "matching": _QuestionReader.matching, "essay": _QuestionReader.essay,
}


def category_path(text: str) -> tuple[str | None, list[str]]:
    """A Moodle category (``$course$/top/物理/力学/运动学``) as (subject, path segments).

    ``$...$`` contexts and ``top`` are dropped; a first segment naming a subject gives the subject;
    ``//`` is a slash inside a segment name, as Moodle writes it.
    """
    parts = [p.replace("\ue030", "/").strip() for p in text.replace("//", "\ue030").split("/")]
    parts = [p for p in parts if p]
    while parts and (re.fullmatch(r"\$[a-z0-9]*\$", parts[0]) or parts[0].casefold() == "top"):
        parts.pop(0)
    subject = subject_from_name(parts[0]) if parts else None
    if subject:
        parts.pop(0)
    return subject, parts


class MoodleXmlImporter:
    """Reads Moodle XML question files (see the module docstring)."""

    name = NAME
    extensions = (".xml",)

    def parse(self, files: dict[str, bytes], *, subject: str | None) -> ParsedBank:
        """Validate every file completely; return all questions, or none and every issue."""
        issues: list[Issue] = []
        notes: list[Issue] = []
        questions: list[dict] = []
        store = ImageStore()
        used = Keys()
        xml_files = {n: d for n, d in files.items() if n.lower().endswith(".xml")}
        for fname in files.keys() - xml_files.keys():
            notes.append(Issue(fname, "import.ignored_file", "不是 .xml 文件，已忽略", "not an .xml file; ignored"))
        if not xml_files:
            issues.append(Issue("", "import.no_files", "没有 .xml 文件", "no .xml file given"))
        for fname, data in sorted(xml_files.items()):
            root, lines, problem = read_xml(fname, data)
            if problem:
                issues.append(problem)
                continue
            reader = _QuestionReader(fname, subject, lines, store, used)
            reader.read(root)
            missing = subject_issue(fname, reader.subject)
            if missing and (reader.questions or reader.issues):
                issues.append(missing)
            issues += reader.issues
            notes += reader.notes
            questions += reader.questions
        return finish(questions, issues, notes, store.images)


# === export ====================================================================================

def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


class _Writer:
    """Builds the ``<question>`` element of one question, attaching the images its texts use."""

    def __init__(self, images: dict[str, bytes]) -> None:
        self.images = images
        self.missing: list[str] = []

    def text_el(self, parent: ET.Element, tag: str, text: str, fmt: str = "html", **attrs: str) -> ET.Element:
        el = _sub(parent, tag, format=fmt, **attrs)
        used: list[str] = []

        def src(ref: str) -> str:
            used.append(ref)
            return "@@PLUGINFILE@@/" + quote(ref[len("images/"):])

        _sub(el, "text", text_to_html(text, src) if fmt == "html" else text)
        for ref in dict.fromkeys(used):
            data = self.images.get(ref)
            if data is None:
                self.missing.append(ref)
                continue
            folder, name = posixpath.split(ref[len("images/"):])
            _sub(el, "file", base64.b64encode(data).decode("ascii"), name=name,
                 path=f"/{folder}/" if folder else "/", encoding="base64")
        return el


def _not_expressible(q: dict, why_zh: str, why_en: str) -> Issue:
    return Issue(loc(q.get("key", "")), "export.not_expressible", f"{NAME} 无法表达此题：{why_zh}",
                 f"cannot be written as {NAME}: {why_en}")


def unexpressible(q: dict) -> tuple[str, str] | None:
    """Why ``q`` cannot be written as Moodle XML, or None."""
    qtype = q.get("type")
    if qtype == "ordering":
        return "排序题（Moodle XML 没有对应题型）", "ordering questions have no Moodle XML type"
    if qtype == "group":
        return "材料题（题组）", "material groups have no Moodle XML type"
    if qtype == "fill_blank" and len(q.get("blanks", [])) != 1:
        return "多空填空题（只能导出一个空）", "fill-in with several blanks (one blank only)"
    if qtype == "matching" and any("images/" in o["text"] for o in q.get("options", [])):
        return "匹配题右项中的图片", "images in matching options"
    return None


def _question_el(q: dict, images: dict[str, bytes]) -> tuple[ET.Element | None, list[str]]:
    writer = _Writer(images)
    qtype = q["type"]
    moodle_type = {"single": "multichoice", "multiple": "multichoice", "true_false": "truefalse",
                   "matching": "matching", "short_answer": "essay"}.get(qtype)
    blank = q.get("blanks", [{}])[0] if qtype == "fill_blank" else {}
    if qtype == "fill_blank":
        moodle_type = "numerical" if "numeric" in blank else "shortanswer"
    el = ET.Element("question", type=moodle_type)
    name = _sub(el, "name")
    _sub(name, "text", q["key"])
    stem = q["stem"].replace("{{1}}", "______") if qtype == "fill_blank" else q["stem"]
    writer.text_el(el, "questiontext", stem)
    writer.text_el(el, "generalfeedback", q.get("explanation", ""))
    _sub(el, "defaultgrade", number_text(q.get("points", 1)))
    _sub(el, "penalty", "0")
    _sub(el, "hidden", "0")
    _sub(el, "idnumber", q["key"])
    if qtype in ("single", "multiple"):
        correct = {q["answer"]} if qtype == "single" else set(q["answer"])
        wrong = len(q["options"]) - len(correct)
        _sub(el, "single", "true" if qtype == "single" else "false")
        _sub(el, "shuffleanswers", "true")
        _sub(el, "answernumbering", "ABCD")
        for option in q["options"]:
            if option["id"] in correct:
                fraction = 100 / len(correct)
            else:
                fraction = 0 if qtype == "single" else -100 / wrong
            answer = writer.text_el(el, "answer", option["text"], fraction=f"{fraction:.5f}".rstrip("0").rstrip("."))
            _sub(_sub(answer, "feedback", format="html"), "text", "")
    elif qtype == "true_false":
        for value in (True, False):
            answer = _sub(el, "answer", fraction="100" if q["answer"] is value else "0", format="moodle_auto_format")
            _sub(answer, "text", "true" if value else "false")
            _sub(_sub(answer, "feedback", format="html"), "text", "")
    elif qtype == "fill_blank" and "numeric" in blank:
        numeric = blank["numeric"]
        tolerance = numeric.get("tolerance")
        if tolerance is None:
            tolerance = abs(numeric["value"]) * numeric.get("rel_tolerance", 0)
        answer = _sub(el, "answer", fraction="100", format="moodle_auto_format")
        _sub(answer, "text", number_text(numeric["value"]))
        _sub(answer, "tolerance", number_text(tolerance))
        _sub(_sub(answer, "feedback", format="html"), "text", "")
        if blank.get("unit"):
            unit = _sub(_sub(el, "units"), "unit")
            _sub(unit, "multiplier", "1")
            _sub(unit, "unit_name", blank["unit"])
            _sub(el, "unitgradingtype", "0")
            _sub(el, "unitpenalty", "0")
            _sub(el, "showunits", "0")
            _sub(el, "unitsleft", "0")
    elif qtype == "fill_blank":
        _sub(el, "usecase", "1" if blank.get("case_sensitive") else "0")
        for accepted in blank["answers"]:
            answer = _sub(el, "answer", fraction="100", format="moodle_auto_format")
            _sub(answer, "text", accepted)
            _sub(_sub(answer, "feedback", format="html"), "text", "")
    elif qtype == "matching":
        _sub(el, "shuffleanswers", "true")
        texts = {o["id"]: o["text"] for o in q["options"]}
        for prompt in q["prompts"]:
            sub = writer.text_el(el, "subquestion", prompt["text"])
            _sub(_sub(sub, "answer"), "text", texts[q["answer"][prompt["id"]]])
        for option in q["options"]:
            if option["id"] not in q["answer"].values():
                sub = writer.text_el(el, "subquestion", "")
                _sub(_sub(sub, "answer"), "text", option["text"])
    elif qtype == "short_answer":
        for tag, value in (("responseformat", "editor"), ("responserequired", "1"),
                           ("responsefieldlines", "10"), ("attachments", "0"), ("attachmentsrequired", "0")):
            _sub(el, tag, value)
        info = q.get("rubric", "")
        if q.get("reference_answer"):
            info = f"【参考答案】\n\n{q['reference_answer']}" + (f"\n\n【评分标准】\n\n{info}" if info else "")
        writer.text_el(el, "graderinfo", info)
        writer.text_el(el, "responsetemplate", "")
    tags = _sub(el, "tags")
    for kp in q.get("knowledge_points", []):
        _sub(_sub(tags, "tag"), "text", kp)
    for label, name in (("难度", "difficulty"), ("来源", "source"), ("作者", "author")):
        if q.get(name) not in (None, ""):
            _sub(_sub(tags, "tag"), "text", f"{label}:{number_text(q[name]) if name == 'difficulty' else q[name]}")
    return el, writer.missing


class MoodleXmlExporter:
    """Writes questions as one Moodle XML file, a category per topic (see the module docstring)."""

    name = NAME

    def export(self, questions: Iterable[dict], images: dict[str, bytes], *, subject: str) -> ExportResult:
        """Every expressible question in ``<subject>.xml``; the others are reported, one issue each."""
        root = ET.Element("quiz")
        issues: list[Issue] = []
        category = None
        for q in questions:
            why = unexpressible(q)
            if why:
                issues.append(_not_expressible(q, *why))
                continue
            el, missing = _question_el(q, images)
            if missing:
                issues += [Issue(loc(q["key"], ref), "export.image_missing", f"缺少图片 {ref}",
                                 f"image {ref} is missing") for ref in missing]
                continue
            path = "/".join(p.replace("/", "//") for p in ("$course$", "top", subject or q.get("subject") or "",
                                                           q.get("topic") or "") if p)
            if path != category:
                category = path
                cat = ET.SubElement(root, "question", type="category")
                _sub(_sub(cat, "category"), "text", path)
            root.append(el)
        ET.indent(root)
        data = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
        return ExportResult(files={f"{subject or 'questions'}.xml": data}, issues=issues)


register_importer(MoodleXmlImporter())
register_exporter(MoodleXmlExporter())
