"""GIFT question files (Moodle's plain-text format): importer and exporter ("gift", ``.gift``/``.txt``).

Reading follows Moodle's documented GIFT syntax. Questions are separated by blank lines; lines
starting with ``//`` are comments (a comment inside a question may declare ``[id:key]`` and
``[tag:知识点]`` as Moodle does; we also read ``[points:4]``, ``[difficulty:3]``, ``[source:…]``
and ``[author:…]`` there, which Moodle ignores); ``$CATEGORY: 物理/力学/运动学`` sets the topic and
default knowledge point of what follows; ``::title::`` names a question (its key when there is no
``[id:]``); ``[markdown]``, ``[plain]``, ``[moodle]`` keep the text as written, ``[html]`` converts
HTML to the bank's text. Escapes: ``\\~ \\= \\# \\{ \\} \\:`` and ``\\\\`` for a backslash, ``\\n`` for a
newline. The answer block, one per question:

* ``{=right ~wrong}`` → single; ``{~%50%a ~%50%b ~%-100%c}`` → multiple (options with a positive
  weight are correct; those weights must add up to 100); text after the block (missing word)
  leaves ``_____`` in the stem;
* ``{T}`` ``{TRUE}`` ``{F}`` ``{FALSE}`` → true_false;
* ``{=a =b}`` (short answer) → fill_blank, the ``{{1}}`` marker where the block stood;
* ``{#9.8:0.1}``, ``{#1..2}`` (the midpoint ± half the range), ``{#=9.8:0.1 =%50%9.8:0.5}`` →
  fill_blank with a numeric blank (the full-credit answers must be one value ± tolerance);
* ``{=left -> right …}`` → matching; ``{}`` → short_answer (the general feedback may hold
  【参考答案】… and 【评分标准】…); no block at all → a description, skipped with a note;
* ``####text`` at the end of the block → explanation. Per-answer ``#feedback`` is dropped.

Two deliberate leniencies for science teachers, both invisible to files Moodle reads correctly:
inside ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]`` the GIFT special characters ``{ } = ~ #``
need no escaping, and ``\\n`` followed by a letter stays a TeX command (``\\neq``).

The parser is hand-written and linear: every block is scanned once, character by character, with no
backtracking regular expression over the input; an unescaped ``{`` inside an answer block is an
error (so 10^5 nested braces stop at the second one), and sizes are capped. Every problem is located
by line.

Writing: single, multiple, true_false, fill_blank with one blank (text, or numeric without a unit),
matching and short_answer; points, difficulty, source, author, key and knowledge points go into the
question's comment line. Not expressible (reported per question): ordering, material groups,
fill-in with several blanks, a numeric blank with a unit, a case-sensitive blank. Images are written
beside the file as ``images/<name>``; on import, ``![](images/x.png)`` references are looked up
among the files given with the .gift file.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.domain.questions import Issue, ParsedBank
from app.formats.moodle_xml import (
    MAX_ANSWERS,
    MAX_ISSUES,
    MAX_QUESTIONS,
    ImageStore,
    Keys,
    MarkupBudget,
    accept,
    at_line,
    category_path,
    finish,
    finite_number,
    html_to_text,
    loc,
    make_key,
    number_text,
    option_id,
    option_ids,
    points_value,
    replace_images,
    subject_issue,
    text_to_html,
    too_many,
)
from app.formats.registry import ExportResult, register_exporter, register_importer

NAME = "gift"
MAX_GIFT_BYTES = 5_000_000
_ESCAPABLE = "~=#{}:\\"
_META = re.compile(r"\[(id|tag|points|difficulty|source|author):((?:\\\]|[^\]\x00-\x1f])+)\]")
_DEFAULT_BLANK = "_____"


# === reading ===================================================================================

def decode(fname: str, data: bytes) -> tuple[str | None, Issue | None]:
    """The file's text (UTF-8, with or without BOM; GB18030 as the Chinese Windows fallback)."""
    if len(data) > MAX_GIFT_BYTES:
        return None, Issue(fname, "gift.too_large", f"文件过大：{len(data) / 1e6:.1f} MB，上限 {MAX_GIFT_BYTES // 1_000_000} MB",
                           f"file too large: {len(data) / 1e6:.1f} MB, the limit is {MAX_GIFT_BYTES // 1_000_000} MB")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), None
        except UnicodeDecodeError:
            continue
    return None, Issue(fname, "gift.encoding", "文件不是 UTF-8 文本，请另存为 UTF-8",
                       "the file is not UTF-8 text; save it as UTF-8")


@dataclass
class _Block:
    """The lines of one question, joined by ``\\n``, with what is needed to find a line number."""

    first_line: int
    text: str = ""
    starts: list[int] = field(default_factory=list)  # offset of each line in text
    numbers: list[int] = field(default_factory=list)  # its line number in the file
    comments: list[str] = field(default_factory=list)

    def line_at(self, pos: int) -> int:
        return self.numbers[max(0, bisect.bisect_right(self.starts, pos) - 1)] if self.numbers else self.first_line


def _blocks(text: str) -> Iterator[_Block]:
    """Questions as blocks of consecutive non-blank lines; comment lines are set aside."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    block: _Block | None = None
    parts: list[str] = []
    offset = 0
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped:
            if block is not None and block.numbers:
                block.text = "\n".join(parts)
                yield block
            block, parts, offset = None, [], 0
            continue
        if block is None:
            block = _Block(first_line=number)
        if stripped.startswith("//"):
            block.comments.append(stripped[2:])
            continue
        block.starts.append(offset)
        block.numbers.append(number)
        parts.append(line)
        offset += len(line) + 1
    if block is not None and block.numbers:
        block.text = "\n".join(parts)
        yield block


_IN_MATH = re.compile(r"[\\$]")  # inside math only a backslash or a dollar can end it
_JUMPS: dict[tuple[tuple[str, ...], bool], re.Pattern] = {}


def _jump(stops: tuple[str, ...], math: bool) -> re.Pattern:
    """A one-character class finding the next character that could matter to _scan."""
    pattern = _JUMPS.get((stops, math))
    if pattern is None:
        chars = {stop[0] for stop in stops} | {"\\"} | ({"$"} if math else set())
        pattern = _JUMPS[(stops, math)] = re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
    return pattern


def _scan(text: str, start: int, end: int, stops: tuple[str, ...], math: bool = True) -> tuple[int, str]:
    """The first unescaped ``stops`` entry in ``text[start:end]`` outside TeX math, as (position,
    stop), or (-1, "") when there is none; ``math=False`` ignores TeX. One forward pass: a character
    class jumps to the next character that matters, nothing is ever re-read."""
    i, closer = start, ""
    jump = _jump(stops, math)
    while i < end:
        found = (_IN_MATH if closer else jump).search(text, i, end)
        if found is None:
            return -1, ""
        i = found.start()
        ch = text[i]
        if closer:
            if text.startswith(closer, i):
                i += len(closer)
                closer = ""
            else:
                i += 2 if ch == "\\" else 1
            continue
        if ch == "\\":
            if math and i + 1 < end and text[i + 1] in "([":
                closer = "\\)" if text[i + 1] == "(" else "\\]"
            i += 2
            continue
        if math and ch == "$":
            closer = "$$" if text.startswith("$$", i) else "$"
            i += len(closer)
            continue
        for stop in stops:
            if text.startswith(stop, i):
                return i, stop
        i += 1
    return -1, ""


def _math_open_at_end(text: str, start: int, end: int) -> bool:
    """True when TeX math opened in ``text[start:end]`` is still open at its end."""
    return _scan(text + "\ue031", start, end + 1, ("\ue031",))[0] < 0


_UNESCAPE_JUMP = re.compile(r"[\\$]")


def unescape(raw: str) -> str:
    """GIFT escapes removed: ``\\~ \\= \\# \\{ \\} \\: \\\\`` give the character, ``\\n`` a newline
    (inside TeX math, ``\\n`` before a letter stays TeX, e.g. ``\\neq``). Text between backslashes
    and dollars is copied in slices."""
    out: list[str] = []
    i, n, closer = 0, len(raw), ""
    while i < n:
        found = _UNESCAPE_JUMP.search(raw, i)
        if found is None:
            out.append(raw[i:])
            break
        out.append(raw[i:found.start()])
        i = found.start()
        ch = raw[i]
        if ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if closer and raw.startswith(closer, i):
                out.append(closer)
                i += len(closer)
                closer = ""
            elif not closer and nxt in "([":
                closer = "\\)" if nxt == "(" else "\\]"
                out.append(ch + nxt)
                i += 2
            elif nxt in _ESCAPABLE:
                out.append(nxt)
                i += 2
            elif nxt == "n" and not (closer and i + 2 < n and raw[i + 2].isascii() and raw[i + 2].isalpha()):
                out.append("\n")
                i += 2
            else:
                out.append(ch)
                i += 1
            continue
        if ch == "$":
            if closer in ("$", "$$") and raw.startswith(closer, i):
                out.append(closer)
                i += len(closer)
                closer = ""
                continue
            if not closer:
                closer = "$$" if raw.startswith("$$", i) else "$"
                out.append(closer)
                i += len(closer)
                continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Reader:
    """Reads the question blocks of one GIFT file."""

    def __init__(self, fname: str, subject: str | None, files: dict[str, bytes], store: ImageStore,
                 used_keys: Keys) -> None:
        self.fname, self.subject, self.files = fname, subject, files
        self.store, self.used_keys = store, used_keys
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.questions: list[dict] = []
        self.topic = posixpath.splitext(posixpath.basename(fname))[0] or fname
        self.category_kps: list[str] = []
        self.feedback_dropped = 0
        self.budget = MarkupBudget()

    def issue(self, where: str, code: str, zh: str, en: str) -> None:
        self.issues.append(Issue(where, code, zh, en))

    def read(self, text: str) -> None:
        blocks = list(_blocks(text))
        if len(blocks) > MAX_QUESTIONS:
            self.issues.append(too_many(self.fname, "题目", "questions", len(blocks), MAX_QUESTIONS))
            return
        for block in blocks:
            if self.budget.left < 0:
                return
            if len(self.issues) >= MAX_ISSUES:
                self.issue(self.fname, "import.too_many_issues", "问题过多，其余未列出",
                           "too many problems; the rest are not listed")
                return
            self.block(block)
        if self.feedback_dropped:
            self.notes.append(Issue(self.fname, "gift.feedback_dropped",
                                    f"{self.feedback_dropped} 条选项反馈（#…）未导入", f"{self.feedback_dropped} "
                                    "answer feedback text(s) (#…) not imported"))

    def block(self, block: _Block) -> None:
        text = block.text
        if text.lstrip().startswith("$CATEGORY:"):
            first, _, rest = text.lstrip().partition("\n")
            path = unescape(first[len("$CATEGORY:"):]).strip()
            subject, parts = category_path(path)
            if subject and not self.subject:
                self.subject = subject
            elif subject and subject != self.subject:
                self.notes.append(Issue(at_line(self.fname, block.first_line), "import.category_subject",
                                        f"分类“{path}”属于 {subject}，按所选学科 {self.subject} 导入",
                                        f'category "{path}" names {subject}; imported into the chosen subject '
                                        f"{self.subject}"))
            self.topic = parts[-1] if parts else self.topic
            self.category_kps = ["/".join(parts)] if parts else []
            if not rest.strip():
                return
            offset = text.index(rest)
            block = _Block(block.line_at(offset), text[offset:], [s - offset for s in block.starts if s >= offset],
                           [n for s, n in zip(block.starts, block.numbers) if s >= offset], block.comments)
            text = block.text
        _Question(self, block).read()

    def resolve_images(self, text: str, where: str) -> str:
        """``![alt](images/x.png)`` references rewritten to the checked, content-named images."""

        def rewrite(alt: str, target: str) -> str:
            original = f"![{alt}]({target})"
            if target.startswith("images/") and target in self.store.images:
                return original
            name = posixpath.normpath(target.replace("\\", "/")).lstrip("/")
            data = self.files.get(name) or self.files.get(f"images/{posixpath.basename(name)}")
            if data is None:
                self.issue(where, "image.missing", f"图片“{target}”不存在：请把图片文件与 GIFT 文件一同上传",
                           f'image "{target}" is missing: upload the image files with the GIFT file')
                return original
            ref = self.store.add(name, data, where)
            if isinstance(ref, Issue):
                self.issues.append(ref)
                return original
            return f"![{alt}]({ref})"

        return replace_images(text, rewrite)


class _Question:
    """One question block: title, format, text and the answer block."""

    def __init__(self, reader: _Reader, block: _Block) -> None:
        self.r, self.b, self.t = reader, block, block.text
        self.fmt = "moodle"
        self.math = True  # False when a lone $ shows the file does not use TeX delimiters
        self.where = at_line(reader.fname, block.first_line)

    def at(self, pos: int) -> str:
        return at_line(self.r.fname, self.b.line_at(pos))

    def fail(self, pos: int, code: str, zh: str, en: str, fld: str = "") -> None:
        self.r.issue(loc(self.at(pos), fld), code, zh, en)

    def scan(self, start: int, end: int, stops: tuple[str, ...]) -> tuple[int, str]:
        return _scan(self.t, start, end, stops, math=self.math)

    def text(self, raw: str, strip: bool = True) -> str:
        """A piece of question text, unescaped and converted from its format."""
        value = unescape(raw)
        value = value.strip() if strip else value.strip("\n")
        if self.fmt == "html" and self.r.budget.spend(value, self.where, self.r.issues):
            value = html_to_text(value, lambda src, alt: f"images/{posixpath.basename(src)}"
                                 if not src.startswith(("http:", "https:", "//", "data:")) else None)
        return value

    def read(self) -> None:
        t, n = self.t, len(self.t)
        i = len(t) - len(t.lstrip())
        title = ""
        if t.startswith("::", i):
            end, _ = _scan(t, i + 2, n, ("::",), math=False)
            if end < 0:
                self.fail(i, "gift.title", "题目名称缺少结尾的 ::", "the question title has no closing ::")
                return
            title = unescape(t[i + 2:end]).strip()
            i = end + 2
        while i < n and t[i].isspace():
            i += 1
        match = re.match(r"\[(html|moodle|plain|markdown)\]", t[i:i + 10])
        if match:
            self.fmt = match[1]
            i += match.end()
        start = i
        open_at, close_at = self._answer_block(start)
        if open_at == -2:
            return
        if open_at < 0:
            self.r.notes.append(Issue(self.where, "gift.description", "没有答案部分 {…}：作为说明文字跳过",
                                      "no answer block {…}: a description, skipped"))
            return
        before, after = t[start:open_at], t[close_at + 1:]
        meta = self._meta()
        if meta is None:
            return
        stem_before, stem_after = self.text(before, strip=False).lstrip(), self.text(after, strip=False).rstrip()
        key = meta.pop("id", None) or make_key(self.r.subject, title or (stem_before + stem_after)[:200],
                                                self.r.used_keys)
        self.r.used_keys.add(key)
        q: dict[str, Any] = {"key": key, "type": None, "points": 1}
        q.update(meta)
        if "knowledge_points" not in q and self.r.category_kps:
            q["knowledge_points"] = list(self.r.category_kps)
        self.here = loc(self.where, key)
        before_issues = len(self.r.issues)
        self._answers(q, open_at + 1, close_at)
        if len(self.r.issues) > before_issues or q["type"] is None:
            return
        # Moodle's rule: answers before the end of the text leave a blank line where they stood.
        if q["type"] == "fill_blank":
            q["stem"] = f"{stem_before}{{{{1}}}}{stem_after}"
        elif stem_after.strip():
            q["stem"] = f"{stem_before}{_DEFAULT_BLANK}{stem_after}"
        else:
            q["stem"] = stem_before
        for name in ("stem", "explanation", "reference_answer", "rubric"):
            if isinstance(q.get(name), str):
                q[name] = self.r.resolve_images(q[name], loc(self.here, name))
        for name in ("options", "prompts"):
            for k, entry in enumerate(q.get(name, []), 1):
                entry["text"] = self.r.resolve_images(entry["text"], loc(self.here, f"{name}[{k}]"))
        if len(self.r.issues) > before_issues:
            return
        if self.r.subject:
            q["subject"] = self.r.subject
        q["topic"] = self.r.topic
        accept(q, self.where, self.r.issues, self.r.questions)

    def _answer_block(self, start: int) -> tuple[int, int]:
        """Positions of the ``{`` and ``}`` of the answer block; (-1, -1) when there is none;
        (-2, -2) after an issue (unclosed, nested, or a second block)."""
        if _math_open_at_end(self.t, start, len(self.t)):
            self.math = False  # a lone $ is not TeX: read the question as Moodle does, without math
        t, n, math = self.t, len(self.t), self.math
        open_at, _ = _scan(t, start, n, ("{", "}"), math=math)
        if open_at < 0:
            return -1, -1
        if t[open_at] == "}":
            self.fail(open_at, "gift.stray_brace", "多余的 }：答案部分要以 { 开始（文字中的 } 请写成 \\}）",
                      "stray }: an answer block starts with { (write a literal } as \\})")
            return -2, -2
        close_at, stop = _scan(t, open_at + 1, n, ("{", "}"), math=math)
        if close_at < 0:
            self.fail(open_at, "gift.unclosed", "答案部分的 { 没有对应的 }（题目之间要空一行）",
                      "the answer block's { is never closed by } (questions are separated by a blank line)")
            return -2, -2
        if stop == "{":
            self.fail(close_at, "gift.nested_brace",
                      "答案部分中不能再有 {：GIFT 不允许嵌套，文字中的 { 请写成 \\{（公式写在 $…$ 中则无需转义）",
                      "no { inside an answer block: GIFT does not nest; write a literal { as \\{ "
                      "(not needed inside $…$ math)")
            return -2, -2
        again, _ = _scan(t, close_at + 1, n, ("{", "}"), math=math)
        if again >= 0:
            self.fail(again, "gift.second_block", "每道题只能有一个答案部分 {…}（文字中的括号请写成 \\{ \\}）",
                      "only one answer block {…} per question (write literal braces as \\{ \\})")
            return -2, -2
        return open_at, close_at

    def _meta(self) -> dict[str, Any] | None:
        """``[id:] [tag:] [points:] [difficulty:] [source:] [author:]`` from the comment lines."""
        meta: dict[str, Any] = {}
        tags: list[str] = []
        for comment in self.b.comments:
            for name, raw in _META.findall(comment[:2000]):
                value = raw.replace("\\]", "]").strip()
                if name == "tag":
                    tags.append(value)
                elif name in ("points", "difficulty"):
                    number = finite_number(value)
                    if number is None:
                        self.r.issue(loc(self.where, name), f"gift.{name}", f"[{name}:…] 应为数字：“{value}”",
                                     f'[{name}:…] must be a number: "{value}"')
                        return None
                    meta[name] = points_value(number)
                else:
                    meta.setdefault(name, value)
        if tags:
            meta["knowledge_points"] = tags
        return meta

    # -- the answer block --
    def _answers(self, q: dict, start: int, end: int) -> None:
        """Fill ``q`` from the answer block ``t[start:end]`` (``q["type"]`` stays None after an issue)."""
        t = self.t
        gf_at, _ = self.scan(start, end, ("####",))
        body_end = gf_at if gf_at >= 0 else end
        if gf_at >= 0:
            feedback = self.text(t[gf_at + 4:end])
            if feedback:
                q["explanation"] = feedback
        body = t[start:body_end].strip()
        body_start = start + (len(t[start:body_end]) - len(t[start:body_end].lstrip()))
        if not body:
            self._essay(q)
            return
        if body.startswith("#"):
            self._numeric(q, body_start + 1, body_end)
            return
        pieces = self._pieces(body_start, body_end, ("=", "~"))
        if len(pieces) > MAX_ANSWERS:
            self.r.issues.append(too_many(self.at(body_start), "答案", "answers", len(pieces), MAX_ANSWERS))
            return
        head_end = pieces[0][1] - 1 if pieces else body_end
        head = t[body_start:head_end].strip()
        if not pieces:
            tf = head.split("#", 1)[0].strip().upper()
            if tf in ("T", "TRUE", "F", "FALSE"):
                q["type"], q["answer"] = "true_false", tf.startswith("T")
                return
            self.fail(body_start, "gift.unknown_answer",
                      f"无法识别的答案部分“{head[:40]}”：应以 = 或 ~ 开始，或为 T/F、#数值、空",
                      f'unrecognised answer block "{head[:40]}": start answers with = or ~, or use T/F, #number or nothing',
                      "answer")
            return
        if head:
            self.fail(body_start, "gift.text_before_answers", f"答案部分中第一个 = 或 ~ 之前有多余文字“{head[:40]}”",
                      f'unexpected text before the first = or ~ in the answer block: "{head[:40]}"', "answer")
            return
        if any(kind == "~" for kind, _, _ in pieces):
            self._choice(q, pieces)
            return
        if any(self.scan(s, e, ("->",))[0] >= 0 for _, s, e in pieces):
            self._matching(q, pieces)
            return
        self._short(q, pieces)
        return

    def _pieces(self, start: int, end: int, stops: tuple[str, ...]) -> list[tuple[str, int, int]]:
        """The answers in ``t[start:end]``: (marker, text start, text end) for each ``=``/``~``."""
        found: list[tuple[str, int]] = []
        i = start
        while True:
            pos, stop = self.scan(i, end, stops)
            if pos < 0:
                break
            found.append((stop, pos))
            if len(found) > MAX_ANSWERS:
                break
            i = pos + 1
        return [(stop, pos + 1, found[k + 1][1] if k + 1 < len(found) else end)
                for k, (stop, pos) in enumerate(found)]

    def _weight(self, start: int, end: int) -> tuple[float | None, int, bool]:
        """A leading ``%n%`` weight: (weight or None, where the text starts, ok)."""
        t = self.t
        i = start
        while i < end and t[i] in " \t\n":
            i += 1
        if i < end and t[i] == "%":
            close = t.find("%", i + 1, end)
            weight = finite_number(t[i + 1:close]) if close > 0 else None
            if weight is None:
                self.fail(i, "gift.weight", "权重应写作 %50% 这样的百分数", "a weight is written like %50%", "answer")
                return None, i, False
            return weight, close + 1, True
        return None, i, True

    def _answer_text(self, start: int, end: int) -> str:
        """The text of one answer, its ``#feedback`` dropped (and counted)."""
        hash_at, _ = self.scan(start, end, ("#",))
        if hash_at >= 0:
            if self.t[hash_at + 1:end].strip():
                self.r.feedback_dropped += 1
            end = hash_at
        return self.text(self.t[start:end])

    def _choice(self, q: dict, pieces: list[tuple[str, int, int]]) -> None:
        options, weights = [], []
        for kind, s, e in pieces:
            weight, s, ok = self._weight(s, e)
            if not ok:
                return
            weights.append(weight if weight is not None else (100.0 if kind == "=" else 0.0))
            options.append(self._answer_text(s, e))
        ids = option_ids(len(options))
        q["options"] = [{"id": i, "text": text} for i, text in zip(ids, options)]
        correct = [k for k, w in enumerate(weights) if w > 0]
        total = sum(weights[k] for k in correct)
        first = pieces[0][1]
        if len(correct) == 1 and abs(total - 100) <= 0.01:
            q["type"], q["answer"] = "single", ids[correct[0]]
        elif len(correct) > 1 and abs(total - 100) <= 0.01:
            q["type"], q["answer"] = "multiple", [ids[k] for k in correct]
        else:
            self.fail(first, "gift.weights",
                      f"正确选项的权重之和应为 100，实为 {total:g}（单选用一个 =，多选写 ~%50%… 使正权重之和为 100）",
                      f"the weights of the correct options must add up to 100, they add up to {total:g} "
                      "(one = for single choice; ~%50%… adding up to 100 for multiple choice)", "answer")

    def _short(self, q: dict, pieces: list[tuple[str, int, int]]) -> None:
        accepted, partial = [], 0
        for _, s, e in pieces:
            weight, s, ok = self._weight(s, e)
            if not ok:
                return
            text = self._answer_text(s, e)
            if weight is None or abs(weight - 100) <= 0.01:
                accepted.append(text)
            elif weight > 0:
                partial += 1
        if partial:
            self.r.notes.append(Issue(loc(self.here, "blanks[1]"), "gift.partial_dropped",
                                      f"{partial} 个部分得分答案未导入", f"{partial} partial-credit answer(s) not imported"))
        if not accepted:
            self.fail(pieces[0][1], "gift.no_full_answer", "没有满分答案", "no full-credit answer", "blanks[1]")
            return
        q["type"], q["blanks"] = "fill_blank", [{"answers": list(dict.fromkeys(accepted))}]

    def _numeric(self, q: dict, start: int, end: int) -> None:
        t = self.t
        pieces = self._pieces(start, end, ("=", "~"))
        if len(pieces) > MAX_ANSWERS:
            self.r.issues.append(too_many(self.at(start), "答案", "answers", len(pieces), MAX_ANSWERS))
            return
        if not pieces or t[start:pieces[0][1] - 1].strip():
            head_end = pieces[0][1] - 1 if pieces else end
            pieces = [("=", start, head_end)] + pieces
        specs, partial = set(), 0
        for kind, s, e in pieces:
            if kind == "~":
                continue  # feedback for any other number
            weight, s, ok = self._weight(s, e)
            if not ok:
                return
            hash_at, _ = self.scan(s, e, ("#",))
            raw = unescape(t[s:hash_at if hash_at >= 0 else e]).strip()
            spec = _numeric_spec(raw)
            if spec is None:
                self.fail(s, "gift.numeric", f"数值答案“{raw[:40]}”无法识别：应写作 9.8、9.8:0.1 或 9.7..9.9",
                          f'numeric answer "{raw[:40]}" is not valid: write 9.8, 9.8:0.1 or 9.7..9.9', "blanks[1]")
                return
            if weight is None or abs(weight - 100) <= 0.01:
                specs.add(spec)
            elif weight > 0:
                partial += 1
        if partial:
            self.r.notes.append(Issue(loc(self.here, "blanks[1]"), "gift.partial_dropped",
                                      f"{partial} 个部分得分答案未导入", f"{partial} partial-credit answer(s) not imported"))
        if len(specs) != 1:
            self.fail(start, "gift.numeric_several",
                      "满分数值答案应恰有一个（值 ± 误差）" if specs else "没有满分数值答案",
                      "exactly one full-credit number (value ± tolerance) is needed" if specs
                      else "no full-credit number", "blanks[1]")
            return
        value, tolerance = specs.pop()
        q["type"], q["blanks"] = "fill_blank", [{"numeric": {"value": value, "tolerance": tolerance}}]

    def _matching(self, q: dict, pieces: list[tuple[str, int, int]]) -> None:
        prompts, options, answer, by_text = [], [], {}, {}
        for _, s, e in pieces:
            arrow, _ = self.scan(s, e, ("->",))
            if arrow < 0:
                self.fail(s, "gift.matching", "配对题每项应写作 =左项 -> 右项", "each matching pair is =left -> right", "answer")
                return
            left, right = self.text(self.t[s:arrow]), self._answer_text(arrow + 2, e)
            if right not in by_text:
                by_text[right] = option_id(len(options))
                options.append({"id": by_text[right], "text": right})
            if left:
                pid = f"p{len(prompts) + 1}"
                prompts.append({"id": pid, "text": left})
                answer[pid] = by_text[right]
        q.update(type="matching", prompts=prompts, options=options, answer=answer)

    def _essay(self, q: dict) -> None:
        q["type"] = "short_answer"
        feedback = q.pop("explanation", "")
        match = re.fullmatch(r"(.*?)\s*【参考答案】\s*(.*?)\s*(?:【评分标准】\s*(.*))?", feedback, re.DOTALL)
        if match:
            if match[1]:
                q["explanation"] = match[1]
            q["reference_answer"] = match[2]
            if match[3]:
                q["rubric"] = match[3].strip()
            return
        if feedback:
            q["explanation"] = feedback
        q["reference_answer"] = "（未提供参考答案）"
        self.r.notes.append(Issue(loc(self.here, "reference_answer"), "gift.no_reference_answer",
                                  "GIFT 问答题没有参考答案，已写“未提供参考答案”，请补充",
                                  "GIFT essays carry no reference answer; set to “not given”, please complete it"))


def _numeric_spec(raw: str) -> tuple[float, float] | None:
    """``9.8`` / ``9.8:0.1`` / ``9.7..9.9`` as (value, tolerance), or None."""
    low, dots, high = raw.partition("..")
    if dots:
        a, b = finite_number(low), finite_number(high)
        if a is None or b is None or a > b:
            return None
        return float(f"{(a + b) / 2:.12g}"), float(f"{(b - a) / 2:.12g}")
    value, colon, tolerance = raw.partition(":")
    v = finite_number(value)
    tol = finite_number(tolerance) if colon else 0.0
    if v is None or tol is None:
        return None
    return v, abs(tol)


class GiftImporter:
    """Reads GIFT files (see the module docstring); other files given are images they may use."""

    name = NAME
    extensions = (".gift", ".txt")

    def parse(self, files: dict[str, bytes], *, subject: str | None) -> ParsedBank:
        """Validate every file completely; return all questions, or none and every issue."""
        issues: list[Issue] = []
        notes: list[Issue] = []
        questions: list[dict] = []
        store = ImageStore()
        used = Keys()
        texts = {n: d for n, d in files.items() if n.lower().endswith(self.extensions)}
        if not texts:
            issues.append(Issue("", "import.no_files", "没有 .gift 或 .txt 文件", "no .gift or .txt file given"))
        for fname, data in sorted(texts.items()):
            text, problem = decode(fname, data)
            if problem or text is None:
                issues.append(problem)
                continue
            reader = _Reader(fname, subject, files, store, used)
            reader.read(text)
            missing = subject_issue(fname, reader.subject)
            if missing and (reader.questions or reader.issues):
                issues.append(missing)
            issues += reader.issues
            notes += reader.notes
            questions += reader.questions
        return finish(questions, issues, notes, store.images)


# === writing ===================================================================================

def escape_gift(text: str) -> str:
    """Text as GIFT writes it: ``\\ ~ = # { } :`` escaped, newlines as ``\\n`` (inside TeX math a
    newline becomes a space, so that ``\\n`` never runs into a TeX command)."""
    out: list[str] = []
    closer = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if closer and text.startswith(closer, i):
            out.append(escape_gift_chars(closer))
            i += len(closer)
            closer = ""
            continue
        if not closer and (text.startswith(("\\(", "\\["), i) or ch == "$"):
            opener = text[i:i + 2] if ch == "\\" or text.startswith("$$", i) else "$"
            if i == 0 or text[i - 1] != "\\":
                closer = {"\\(": "\\)", "\\[": "\\]", "$$": "$$", "$": "$"}[opener]
            out.append(escape_gift_chars(opener))
            i += len(opener)
            continue
        if ch == "\n":
            out.append(" " if closer else "\\n")
        else:
            out.append(escape_gift_chars(ch))
        i += 1
    return "".join(out)


def escape_gift_chars(text: str) -> str:
    return "".join("\\" + c if c in _ESCAPABLE else c for c in text)


def _weight_text(weight: float) -> str:
    """A weight as Moodle writes its grades: at most 5 decimals (33.33333, 12.5, 50)."""
    return f"{weight:.5f}".rstrip("0").rstrip(".")


def _meta_value(value: Any) -> str:
    return str(value).replace("]", "\\]").replace("\n", " ")


def unexpressible(q: dict) -> tuple[str, str] | None:
    """Why ``q`` cannot be written as GIFT, or None."""
    qtype = q.get("type")
    if qtype == "ordering":
        return "排序题（GIFT 没有对应题型）", "ordering questions have no GIFT type"
    if qtype == "group":
        return "材料题（题组）", "material groups have no GIFT type"
    if qtype == "fill_blank":
        blanks = q.get("blanks", [])
        if len(blanks) != 1:
            return "多空填空题（GIFT 每题只有一个答案部分）", "fill-in with several blanks (GIFT has one answer block)"
        if blanks[0].get("unit"):
            return "带单位的数值填空", "a numeric blank with a unit"
        if blanks[0].get("case_sensitive"):
            return "区分大小写的填空", "a case-sensitive blank"
        if "numeric" in blanks[0] and "answers" in blanks[0]:
            return "同时有文字和数值答案的空", "a blank with both text and numeric answers"
        # Found by tests/fuzz/test_parser_fuzz.py: both came back as another type instead of being reported.
        if any("->" in answer for answer in blanks[0].get("answers", [])):
            return "答案含“->”的填空（GIFT 会读成配对题）", 'a blank answer containing "->" (GIFT reads it as matching)'
    if qtype == "multiple" and len(q.get("answer") or []) == 1:
        return "只有一个正确选项的多选题（GIFT 会读成单选题）", "multiple choice with one right option (GIFT reads it as single choice)"
    return None


def _explicit_weight(text: str, weight: int) -> str:
    """An answer text that starts with ``%`` would be read back as a weight (``%50%``), and GIFT has no
    escape for ``%``: such a text gets its weight written out (``=%100%%…``), as Moodle reads it too.
    Found by tests/fuzz/test_parser_fuzz.py (export → import of an option "%…" failed)."""
    return f"%{weight}%{text}" if text.lstrip().startswith("%") else text


def _question_text(q: dict) -> str:
    """One question in GIFT, comment line first."""
    meta = [f"[id:{_meta_value(q['key'])}]"] + [f"[tag:{_meta_value(kp)}]" for kp in q.get("knowledge_points", [])]
    meta.append(f"[points:{number_text(q.get('points', 1))}]")
    for name in ("difficulty", "source", "author"):
        if q.get(name) not in (None, ""):
            meta.append(f"[{name}:{_meta_value(q[name])}]")
    lines = ["// " + " ".join(meta), f"::{escape_gift(q['key'])}::[markdown]"]
    qtype, stem = q["type"], q["stem"]
    explanation = q.get("explanation", "")
    answers: list[str] = []
    if qtype in ("single", "multiple"):
        correct = {q["answer"]} if qtype == "single" else set(q["answer"])
        share = 100 / len(correct)
        wrong_share = 100 / max(1, len(q["options"]) - len(correct))
        for option in q["options"]:
            text = escape_gift(option["text"])
            if qtype == "single":
                answers.append(("=" if option["id"] in correct else "~") + _explicit_weight(
                    text, 100 if option["id"] in correct else 0))
            elif option["id"] in correct:
                answers.append(f"~%{_weight_text(share)}%{text}")
            else:
                answers.append(f"~%-{_weight_text(wrong_share)}%{text}")
    elif qtype == "true_false":
        answers.append("TRUE" if q["answer"] else "FALSE")
    elif qtype == "fill_blank":
        blank = q["blanks"][0]
        if "numeric" in blank:
            numeric = blank["numeric"]
            tolerance = numeric.get("tolerance")
            if tolerance is None:
                tolerance = abs(numeric["value"]) * numeric.get("rel_tolerance", 0)
            answers.append(f"#{number_text(numeric['value'])}:{number_text(tolerance)}")
        else:
            answers += ["=" + _explicit_weight(escape_gift(a), 100) for a in blank["answers"]]
    elif qtype == "matching":
        texts = {o["id"]: o["text"] for o in q["options"]}
        answers += [f"={escape_gift(p['text'])} -> {escape_gift(texts[q['answer'][p['id']]])}" for p in q["prompts"]]
        used = set(q["answer"].values())
        answers += [f"= -> {escape_gift(o['text'])}" for o in q["options"] if o["id"] not in used]  # distractors
    elif qtype == "short_answer":
        parts = [explanation] if explanation else []
        parts.append(f"【参考答案】\n{q['reference_answer']}")
        if q.get("rubric"):
            parts.append(f"【评分标准】\n{q['rubric']}")
        explanation = "\n\n".join(parts)
    block = "{" + "\n\t" + "\n\t".join(answers) if answers else "{"
    if explanation:
        block += ("\n\t" if answers else "") + "####" + escape_gift(explanation)
    block += "\n}" if answers else "}"
    marker = "{{1}}" if qtype == "fill_blank" else None
    if marker and marker in stem:
        head, _, tail = stem.partition(marker)
    elif qtype in ("single", "multiple") and re.search(r"_{3,}|＿+", stem):
        found = re.search(r"_{3,}|＿+", stem)
        head, tail = stem[:found.start()], stem[found.end():]
    else:
        head, tail = stem, ""
    lines.append(f"{escape_gift(head)}{block}{escape_gift(tail)}")
    return "\n".join(lines)


class GiftExporter:
    """Writes questions as one GIFT file (see the module docstring)."""

    name = NAME

    def export(self, questions: Iterable[dict], images: dict[str, bytes], *, subject: str) -> ExportResult:
        """Every expressible question in ``<subject>.gift`` with its images; the others reported."""
        from app.domain.questions import image_refs

        chunks: list[str] = []
        issues: list[Issue] = []
        files: dict[str, bytes] = {}
        topic = None
        for q in questions:
            why = unexpressible(q)
            if why:
                issues.append(Issue(q.get("key", ""), "export.not_expressible", f"GIFT 无法表达此题：{why[0]}",
                                    f"cannot be written as GIFT: {why[1]}"))
                continue
            refs = image_refs(q)
            missing = [ref for ref in refs if ref not in images]
            if missing:
                issues += [Issue(loc(q["key"], ref), "export.image_missing", f"缺少图片 {ref}", f"image {ref} is missing")
                           for ref in missing]
                continue
            files.update({ref: images[ref] for ref in refs})
            if q.get("topic") != topic:
                topic = q.get("topic")
                path = "/".join(p for p in (subject, topic) if p)
                chunks.append(f"$CATEGORY: $course$/top/{escape_gift(path)}")
            chunks.append(_question_text(q))
        files[f"{subject}.gift"] = ("\n\n".join(chunks) + "\n").encode("utf-8")
        return ExportResult(files=files, issues=issues)


register_importer(GiftImporter())
register_exporter(GiftExporter())

__all__ = ["GiftExporter", "GiftImporter", "escape_gift", "text_to_html", "unescape"]
