"""The Excel question template Chinese teachers use: importer and exporter ("xlsx", ``.xlsx``).

The first sheet holds one question per row under a header row (row 1). Header names are matched
after trimming (full-width letters are read as half-width; a trailing ``*`` or ``（必填）`` is
ignored), in any order:

========  ===============================================================================
题型       required: 单选题/单选, 多选题/多选, 判断题/判断, 填空题/填空, 排序题/排序, 匹配题/匹配,
           简答题/主观题 (also 问答题, 论述题, 不定项选择题, 连线题)
题干       required; blanks of a fill-in question are ``{{1}}``, ``{{2}}`` … or runs of ``___``
           (three or more underscores), in order; a single blank without a mark goes at the end
选项A…H    choice options; for 排序题 the items; for 匹配题 one pair per cell (see below)
答案       required. 单选/多选: letters ``B``, ``ABC``, ``A,B``, ``A、C``, ``A，C``;
           判断: 正确/错误, 对/错, T/F, √/×, TRUE/FALSE; 填空: blanks separated by ``|``, the
           accepted answers of one blank by ``;`` or ``；``; a blank that is just a number,
           ``9.8``, ``9.8±0.1``, ``9.8±1%`` (relative: the % right after the tolerance),
           optionally followed by a space and a unit (``9.8±0.1 m/s^2``, ``50±0.5 %``), is a
           numeric blank; 排序: the items' letters in the correct order
           (``CAB`` or ``C,A,B``); 匹配: leave empty; 简答: the reference answer
解析       the explanation;  分值: points;  难度: 1–5 (or 容易/较易/中等/较难/困难);
知识点     knowledge points (paths like 力学/运动学), several separated by ``;`` or ``；`` (a name
           may itself contain ``、`` or ``，``)
专题       optional: the topic (default: the file name without .xlsx)
编号/键    optional: the question key (re-importing updates by key); without it the key is the
           subject and the first 8 hex digits of the SHA-1 of the stem (``physics-1a2b3c4d``)
评分标准   optional: the rubric of a 简答题;  来源, 作者: optional
========  ===============================================================================

Matching convention: each 选项 cell holds one pair ``左项=右项`` (prompt = its matching option),
split at the first ``=`` (or ``＝``) that is not inside ``$…$`` math; the same right-hand text in
several cells is one option; a cell without ``=`` is a distractor (an option no prompt matches).
A cell never starts with ``=``: Excel would take it for a formula.
Ordering convention: the 选项 cells are the items, 答案 lists their letters in the right order.

Before anything is parsed, the file is checked as a zip: at most 20 MB, at most 1000 entries (read
from the end-of-central-directory record, before the directory is loaded), no absolute or ``..``
paths, at most 100 MB uncompressed in total, and no entry above 1 MiB expanding more than 100
times. Only then is it opened with openpyxl (read-only, cached values).

Writing produces the same columns (with 编号 first). Not expressible, reported per question:
material groups, more than 8 options/items/pairs, matching texts with ``=`` outside math, blank
answers containing ``;`` ``；`` or ``|``, case-sensitive blanks, a blank with both text and
numeric answers. ``template_bytes()`` builds the empty template with its 说明 sheet.
"""

from __future__ import annotations

import hashlib
import io
import math
import posixpath
import re
import struct
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable
from typing import Any

from app.domain.questions import Issue, ParsedBank
from app.formats.moodle_xml import (
    MAX_ISSUES,
    MAX_QUESTIONS,
    ImageStore,
    Keys,
    accept,
    finish,
    finite_number,
    loc,
    number_text,
    points_value,
    relocate,
    replace_images,
    subject_issue,
    too_many,
)
from app.formats.registry import ExportResult, register_exporter, register_importer

NAME = "xlsx"
MAX_FILE_BYTES = 20_000_000
MAX_ENTRIES = 1000
MAX_UNCOMPRESSED = 100_000_000
MAX_RATIO = 100
RATIO_FREE_BYTES = 1 << 20  # entries smaller than this cannot be bombs, whatever their ratio
MAX_ROWS = 10_000  # rows read, empty ones included
MAX_COLUMNS = 64
LETTERS = "ABCDEFGH"

COLUMNS = ["编号", "题型", "题干"] + [f"选项{c}" for c in LETTERS] + [
    "答案", "解析", "分值", "难度", "知识点", "专题", "评分标准", "来源", "作者"]
REQUIRED = ("题型", "题干", "答案")
_ALIASES = {"键": "编号", "key": "编号", "题号": "编号", "类型": "题型", "题目": "题干", "试题": "题干",
            "正确答案": "答案", "答案解析": "解析", "分数": "分值", "难易度": "难度", "难度系数": "难度"}
TYPES = {
    "单选题": "single", "单选": "single", "单项选择题": "single",
    "多选题": "multiple", "多选": "multiple", "多项选择题": "multiple", "不定项选择题": "multiple",
    "判断题": "true_false", "判断": "true_false",
    "填空题": "fill_blank", "填空": "fill_blank",
    "排序题": "ordering", "排序": "ordering",
    "匹配题": "matching", "匹配": "matching", "连线题": "matching",
    "简答题": "short_answer", "主观题": "short_answer", "简答": "short_answer", "问答题": "short_answer",
    "论述题": "short_answer",
}
TYPE_NAMES = {"single": "单选题", "multiple": "多选题", "true_false": "判断题", "fill_blank": "填空题",
              "ordering": "排序题", "matching": "匹配题", "short_answer": "简答题"}
_TRUTH = {"正确": True, "错误": False, "对": True, "错": False, "T": True, "F": False, "TRUE": True,
          "FALSE": False, "√": True, "×": False, "✓": True, "✗": False, "✔": True, "✘": False,
          "是": True, "否": False, "X": False}
_DIFFICULTY_WORDS = {"容易": 1, "易": 1, "较易": 2, "中等": 3, "中": 3, "适中": 3, "较难": 4, "困难": 5, "难": 5}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?"
# value, then ±tolerance (a % right after it makes it relative), then a space and the unit.
_NUMERIC_BLANK = re.compile(rf"({_NUMBER})(?:\s*(?:±|\+-|\+/-)\s*({_NUMBER})(%)?)?(?:\s+(\S.{{0,49}}))?")
_UNDERSCORES = re.compile(r"_{3,}|＿{2,}")
_FIELD_COLUMNS = {"stem": "题干", "points": "分值", "difficulty": "难度", "knowledge_points": "知识点",
                  "explanation": "解析", "answer": "答案", "blanks": "答案", "reference_answer": "答案",
                  "rubric": "评分标准", "source": "来源", "author": "作者", "key": "编号"}


# === the zip checks ============================================================================

def _entry_count(data: bytes) -> int | None:
    """The number of entries the end-of-central-directory record declares (zip64 aware), or None."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + 22 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, eocd + 10)
    if count == 0xFFFF and eocd >= 20 and data[eocd - 20:eocd - 16] == b"PK\x06\x07":
        (record,) = struct.unpack_from("<Q", data, eocd - 12)
        if record + 40 <= len(data) and data[record:record + 4] == b"PK\x06\x06":
            (count,) = struct.unpack_from("<Q", data, record + 32)
    return count


def check_zip(fname: str, data: bytes) -> Issue | None:
    """Refuse, before any parsing, what is not a sane .xlsx: too big, not a zip, a zip bomb,
    too many entries, absolute or ``..`` paths, or a zip without a workbook."""

    def refuse(code: str, zh: str, en: str) -> Issue:
        return Issue(fname, code, zh, en)

    if len(data) > MAX_FILE_BYTES:
        return refuse("xlsx.too_large", f"文件过大：{len(data) / 1e6:.1f} MB，上限 {MAX_FILE_BYTES // 1_000_000} MB",
                      f"file too large: {len(data) / 1e6:.1f} MB, the limit is {MAX_FILE_BYTES // 1_000_000} MB")
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return refuse("xlsx.old_format", "这是旧版 .xls 文件或加密的工作簿：请在 Excel/WPS 中另存为 .xlsx（不设密码）",
                      "this is an old .xls file or a password-protected workbook: save it as .xlsx without a password")
    if not data.startswith(b"PK"):
        return refuse("xlsx.not_zip", "不是 Excel 工作簿（.xlsx）：请使用下载的模板并另存为 .xlsx",
                      "not an Excel workbook (.xlsx): use the downloadable template and save as .xlsx")
    count = _entry_count(data)
    if count is None:
        return refuse("xlsx.bad_zip", "文件已损坏：不是完整的 .xlsx", "the file is damaged: not a complete .xlsx")
    if count > MAX_ENTRIES:
        return refuse("xlsx.too_many_entries", f"压缩包内文件过多（{count} 个，上限 {MAX_ENTRIES}），拒绝处理",
                      f"too many entries in the archive ({count}, at most {MAX_ENTRIES}); refused")
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, struct.error):
        return refuse("xlsx.bad_zip", "文件已损坏：不是完整的 .xlsx", "the file is damaged: not a complete .xlsx")
    if len(infos) > MAX_ENTRIES:
        return refuse("xlsx.too_many_entries", f"压缩包内文件过多（{len(infos)} 个，上限 {MAX_ENTRIES}），拒绝处理",
                      f"too many entries in the archive ({len(infos)}, at most {MAX_ENTRIES}); refused")
    total = 0
    for info in infos:
        name = info.filename
        parts = re.split(r"[\\/]", name)
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            return refuse("xlsx.bad_path", f"压缩包内含不安全的路径“{name[:80]}”，拒绝处理",
                          f'unsafe path in the archive "{name[:80]}"; refused')
        total += info.file_size
        if info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return refuse("xlsx.zip_bomb",
                          f"压缩比异常（“{name[:60]}” 解压后 {info.file_size / 1e6:.0f} MB，压缩比超过 {MAX_RATIO}），疑似压缩炸弹，拒绝处理",
                          f'abnormal compression ratio ("{name[:60]}" expands to {info.file_size / 1e6:.0f} MB, more '
                          f"than {MAX_RATIO} times): a suspected zip bomb; refused")
    if total > MAX_UNCOMPRESSED:
        return refuse("xlsx.too_big_uncompressed",
                      f"解压后总大小 {total / 1e6:.0f} MB 超过上限 {MAX_UNCOMPRESSED // 1_000_000} MB，拒绝处理",
                      f"{total / 1e6:.0f} MB uncompressed exceeds the limit of {MAX_UNCOMPRESSED // 1_000_000} MB; refused")
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        return refuse("xlsx.not_workbook", "这是压缩包但不是 Excel 工作簿（.xlsx）", "a zip archive, but not an Excel workbook (.xlsx)")
    return None


def read_rows(fname: str, data: bytes) -> tuple[list[tuple[int, tuple]], str, Issue | None]:
    """The first sheet's non-empty rows as (row number, values), and the sheet's name."""
    import openpyxl  # only the xlsx format needs it

    unreadable = Issue(fname, "xlsx.unreadable", "无法读取该工作簿：请在 Excel/WPS 中打开后重新另存为 .xlsx",
                       "the workbook cannot be read: open it in Excel/WPS and save it again as .xlsx")
    rows: list[tuple[int, tuple]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it skips
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not workbook.worksheets:
                    return [], "", unreadable
                sheet = workbook.worksheets[0]
                for number, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), 1):
                    if number > MAX_ROWS + 1:
                        return [], sheet.title, Issue(fname, "xlsx.too_many_rows", f"行数过多：最多 {MAX_ROWS} 行",
                                                      f"too many rows: at most {MAX_ROWS}")
                    if any(v is not None and str(v).strip() for v in values):
                        rows.append((number, tuple(values)))
                return rows, sheet.title, None
            finally:
                workbook.close()
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds of errors on malformed parts; all mean "unreadable"
        return [], "", unreadable


# === reading ===================================================================================

def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious ``.0``, booleans as TRUE/FALSE, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return number_text(value) if math.isfinite(value) else ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).replace("\r\n", "\n").strip()


def _header_name(value: Any) -> str:
    name = unicodedata.normalize("NFKC", cell_text(value)).strip()
    name = re.sub(r"\s*(?:\*|（必填）|\(必填\))$", "", name).strip().replace(" ", "")
    if re.fullmatch(r"选项[a-hA-H]", name):
        name = "选项" + name[-1].upper()
    return _ALIASES.get(name, _ALIASES.get(name.lower(), name))


def split_outside_math(text: str, seps: str) -> list[str]:
    """``text`` split at the characters of ``seps`` that are not inside ``$…$`` (one scan)."""
    parts, current, in_math, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == "$":
            in_math = not in_math
        if ch in seps and not in_math:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


class _SheetReader:
    """Turns the rows of the template into question dicts."""

    def __init__(self, fname: str, subject: str | None, files: dict[str, bytes], store: ImageStore,
                 used_keys: Keys) -> None:
        self.fname, self.subject, self.files, self.store, self.used = fname, subject, files, store, used_keys
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.questions: list[dict] = []
        self.topic = posixpath.splitext(posixpath.basename(fname))[0] or fname
        self.columns: dict[str, int] = {}

    def where(self, row: int) -> str:
        return f"{self.fname} · 第{row}行 row {row}"

    def issue(self, row: int, column: str, code: str, zh: str, en: str) -> None:
        self.issues.append(Issue(loc(self.where(row), column), code, zh, en))

    def header(self, number: int, values: tuple) -> bool:
        seen: dict[str, int] = {}
        for index, value in enumerate(values):
            name = _header_name(value)
            if not name:
                continue
            if name in seen:
                self.issue(number, name, "xlsx.duplicate_header", f"表头“{name}”出现了两次", f'header "{name}" appears twice')
                return False
            seen[name] = index
            if name not in COLUMNS:
                self.notes.append(Issue(loc(self.where(number), name), "xlsx.unknown_column",
                                        f"未知的列“{name}”已忽略", f'unknown column "{name}" ignored'))
        missing = [name for name in REQUIRED if name not in seen]
        if missing:
            self.issue(number, "", "xlsx.missing_header",
                       f"第 1 行表头缺少必需的列：{'、'.join(missing)}（请使用下载的模板）",
                       f"the header row lacks required columns: {', '.join(missing)} (use the downloadable template)")
            return False
        self.columns = seen
        return True

    def get(self, values: tuple, name: str) -> str:
        index = self.columns.get(name)
        return cell_text(values[index]) if index is not None and index < len(values) else ""

    def row(self, number: int, values: tuple) -> None:
        type_name = unicodedata.normalize("NFKC", self.get(values, "题型")).replace(" ", "")
        qtype = TYPES.get(type_name) or (type_name if type_name in TYPE_NAMES else None)
        if qtype is None:
            self.issue(number, "题型", "xlsx.type", f"无法识别的题型“{type_name}”，可用：{'、'.join(TYPE_NAMES.values())}",
                       f'unknown question type "{type_name}"; use one of: {", ".join(TYPE_NAMES.values())}')
            return
        stem = self.get(values, "题干")
        key = self.get(values, "编号")
        if not key:
            key = self.used.fresh(f"{self.subject or 'q'}-{hashlib.sha1(stem.encode('utf-8')).hexdigest()[:8]}")
        self.used.add(key)
        q: dict[str, Any] = {"key": key, "type": qtype, "stem": stem}
        before = len(self.issues)
        self._common(number, values, q)
        getattr(self, f"_{qtype}")(number, values, q)
        if len(self.issues) > before:
            return
        for name in ("stem", "explanation", "reference_answer", "rubric"):
            if isinstance(q.get(name), str):
                q[name] = self._images(number, q[name], _FIELD_COLUMNS[name])
        if len(self.issues) > before:
            return
        if self.subject:
            q["subject"] = self.subject
        q.setdefault("topic", self.topic)
        problems: list[Issue] = []
        accept(q, self.where(number), problems, self.questions)
        self.issues += [relocate(p, _column_location(p.location)) for p in problems]

    def _common(self, number: int, values: tuple, q: dict) -> None:
        points = self.get(values, "分值")
        if points:
            value = finite_number(points)
            if value is None:
                self.issue(number, "分值", "xlsx.points", f"分值“{points}”不是数字", f'points "{points}" is not a number')
            else:
                q["points"] = points_value(value)
        difficulty = self.get(values, "难度")
        if difficulty:
            level = _DIFFICULTY_WORDS.get(difficulty) or finite_number(difficulty)
            if level is None:
                self.issue(number, "难度", "xlsx.difficulty", f"难度“{difficulty}”应为 1–5 或 容易/较易/中等/较难/困难",
                           f'difficulty "{difficulty}" must be 1–5 or 容易/较易/中等/较难/困难')
            else:
                q["difficulty"] = points_value(level)
        kps = [k.strip() for k in re.split(r"[;；\n]", self.get(values, "知识点")) if k.strip()]
        if kps:
            q["knowledge_points"] = kps
        for column, name in (("解析", "explanation"), ("来源", "source"), ("作者", "author"), ("专题", "topic")):
            text = self.get(values, column)
            if text:
                q[name] = text

    def _options(self, values: tuple) -> list[tuple[str, str]]:
        return [(c, text) for c in LETTERS if (text := self.get(values, f"选项{c}"))]

    def _letters(self, number: int, answer: str, allowed: set[str]) -> list[str] | None:
        letters = re.sub(r"[\s,，、;；/→>\-]+", "", unicodedata.normalize("NFKC", answer).upper())
        if not letters or any(c not in allowed for c in letters):
            self.issue(number, "答案", "xlsx.answer_letters",
                       f"答案“{answer}”应为选项字母，如 B、ABC、A,C（且该选项不能为空）",
                       f'answer "{answer}" must be option letters such as B, ABC or A,C (of non-empty options)')
            return None
        return list(letters)

    def _single(self, number: int, values: tuple, q: dict) -> None:
        options = self._options(values)
        q["options"] = [{"id": c.lower(), "text": t} for c, t in options]
        letters = self._letters(number, self.get(values, "答案"), {c for c, _ in options})
        if letters is None:
            return
        if len(letters) != 1:
            self.issue(number, "答案", "xlsx.single_answer", f"单选题只能有一个答案，现为“{''.join(letters)}”",
                       f'a single-choice question has one answer, found "{"".join(letters)}"')
            return
        q["answer"] = letters[0].lower()

    def _multiple(self, number: int, values: tuple, q: dict) -> None:
        options = self._options(values)
        q["options"] = [{"id": c.lower(), "text": t} for c, t in options]
        letters = self._letters(number, self.get(values, "答案"), {c for c, _ in options})
        if letters is not None:
            q["answer"] = [c.lower() for c in letters]

    def _true_false(self, number: int, values: tuple, q: dict) -> None:
        answer = self.get(values, "答案")
        value = _TRUTH.get(unicodedata.normalize("NFKC", answer).strip().upper())
        if value is None:
            self.issue(number, "答案", "xlsx.truth", f"判断题答案“{answer}”应为 正确/错误、对/错、T/F 或 √/×",
                       f'a true/false answer must be 正确/错误, 对/错, T/F or √/×, not "{answer}"')
            return
        q["answer"] = value

    def _fill_blank(self, number: int, values: tuple, q: dict) -> None:
        answer = self.get(values, "答案")
        blanks = [_blank(part) for part in re.split(r"[|｜]", answer)]
        if not answer or any(b is None for b in blanks):
            self.issue(number, "答案", "xlsx.blank_answer",
                       "填空题答案不能为空：多个空用 | 分隔，同一空的多个可接受答案用 ; 分隔",
                       "fill-in answers must not be empty: separate blanks with | and accepted answers with ;")
            return
        q["blanks"] = blanks
        stem = q["stem"]
        if "{{" not in stem:
            count = 0

            def mark(_match: re.Match) -> str:
                nonlocal count
                count += 1
                return f"{{{{{count}}}}}"

            stem = _UNDERSCORES.sub(mark, stem)
            if count == 0 and len(blanks) == 1:
                stem = f"{stem} {{{{1}}}}"
        q["stem"] = stem

    def _ordering(self, number: int, values: tuple, q: dict) -> None:
        items = self._options(values)
        q["items"] = [{"id": c.lower(), "text": t} for c, t in items]
        letters = self._letters(number, self.get(values, "答案"), {c for c, _ in items})
        if letters is not None:
            q["answer"] = [c.lower() for c in letters]

    def _matching(self, number: int, values: tuple, q: dict) -> None:
        prompts, options, answer, by_text = [], [], {}, {}
        for letter, cell in self._options(values):
            parts = split_outside_math(cell.replace("＝", "="), "=")
            left, right = ("", parts[0].strip()) if len(parts) < 2 else (parts[0].strip(), "=".join(parts[1:]).strip())
            if not right:
                self.issue(number, f"选项{letter}", "xlsx.matching_pair",
                           f"匹配题的选项格应写作“左项=右项”（只写右项表示干扰项），现为“{cell[:40]}”",
                           f'a matching cell is "left=right" (the right side alone is a distractor), found "{cell[:40]}"')
                return
            if right not in by_text:
                by_text[right] = "abcdefghijkl"[len(options)]
                options.append({"id": by_text[right], "text": right})
            if left:
                pid = f"p{len(prompts) + 1}"
                prompts.append({"id": pid, "text": left})
                answer[pid] = by_text[right]
        q.update(prompts=prompts, options=options, answer=answer)

    def _short_answer(self, number: int, values: tuple, q: dict) -> None:
        q["reference_answer"] = self.get(values, "答案")
        rubric = self.get(values, "评分标准")
        if rubric:
            q["rubric"] = rubric

    def _images(self, number: int, text: str, column: str) -> str:
        """``![alt](images/x.png)`` references resolved among the files uploaded with the sheet."""
        def rewrite(alt: str, target: str) -> str:
            name = posixpath.normpath(target.replace("\\", "/")).lstrip("/")
            data = self.files.get(name) or self.files.get(f"images/{posixpath.basename(name)}")
            if data is None:
                self.issue(number, column, "image.missing", f"图片“{target}”不存在：请把图片与表格一同上传",
                           f'image "{target}" is missing: upload the images with the spreadsheet')
                return f"![{alt}]({target})"
            ref = self.store.add(name, data, loc(self.where(number), column))
            if isinstance(ref, Issue):
                self.issues.append(ref)
                return f"![{alt}]({target})"
            return f"![{alt}]({ref})"

        return replace_images(text, rewrite)


def _column_location(location: str) -> str:
    """A validator location (``… · key · options[2].text``) with the field named by its column."""
    head, _, fld = location.rpartition(" · ")
    match = re.match(r"(options|items)\[(\d+)\]", fld)
    if match:
        k = int(match[2])
        return f"{head} · 选项{LETTERS[k - 1]}" if k <= len(LETTERS) else location
    name = re.split(r"[.\[]", fld, maxsplit=1)[0]
    return f"{head} · {_FIELD_COLUMNS[name]}" if name in _FIELD_COLUMNS and head else location


def _blank(part: str) -> dict | None:
    """One blank from its cell text: accepted answers split by ; or ；, or a numeric answer."""
    answers = [a.strip() for a in re.split(r"[;；]", part) if a.strip()]
    if not answers:
        return None
    if len(answers) == 1:
        match = _NUMERIC_BLANK.fullmatch(unicodedata.normalize("NFKC", answers[0]))
        if match:
            value, tolerance, percent, unit = match.groups()
            numeric: dict[str, float] = {"value": float(value)}
            if tolerance is not None:
                numeric["rel_tolerance" if percent else "tolerance"] = abs(float(tolerance)) / (100 if percent else 1)
            blank: dict[str, Any] = {"numeric": numeric}
            if unit:
                blank["unit"] = unit.strip()
            return blank
    return {"answers": answers}


class ExcelImporter:
    """Reads the Excel question template (see the module docstring)."""

    name = NAME
    extensions = (".xlsx",)

    def parse(self, files: dict[str, bytes], *, subject: str | None) -> ParsedBank:
        """Check every workbook (zip first), then every row; all questions, or none and every issue."""
        issues: list[Issue] = []
        notes: list[Issue] = []
        questions: list[dict] = []
        store = ImageStore()
        used = Keys()
        books = {n: d for n, d in files.items() if n.lower().endswith(".xlsx")}
        if not books:
            issues.append(Issue("", "import.no_files", "没有 .xlsx 文件", "no .xlsx file given"))
        for fname, data in sorted(books.items()):
            problem = check_zip(fname, data)
            if problem is None:
                rows, _sheet, problem = read_rows(fname, data)
            if problem is not None:
                issues.append(problem)
                continue
            missing = subject_issue(fname, subject)
            if missing:
                issues.append(missing)
                continue
            if len(rows) - 1 > MAX_QUESTIONS:
                issues.append(too_many(fname, "题目", "questions", len(rows) - 1, MAX_QUESTIONS))
                continue
            reader = _SheetReader(fname, subject, files, store, used)
            if not rows or not reader.header(*rows[0]):
                issues += reader.issues or [Issue(fname, "xlsx.empty", "第一个工作表是空的", "the first sheet is empty")]
                continue
            for number, values in rows[1:]:
                if len(reader.issues) >= MAX_ISSUES:
                    reader.issues.append(Issue(fname, "import.too_many_issues", "问题过多，其余未列出",
                                               "too many problems; the rest are not listed"))
                    break
                reader.row(number, values)
            issues += reader.issues
            notes += reader.notes
            questions += reader.questions
        return finish(questions, issues, notes, store.images)


# === writing ===================================================================================

_GUIDE = [
    ("列", "说明"),
    ("编号", "可选。题目的唯一编号（字母、数字、- _ .），再次导入时按编号更新；不填则由学科和题干自动生成。"),
    ("题型", "必填。单选题、多选题、判断题、填空题、排序题、匹配题、简答题（也可写 单选、多选、判断、填空、排序、匹配、主观题）。"),
    ("题干", ("必填。公式写在 $…$ 中，如 $v=at$；图片写作 ![说明](images/文件名.png) 并与表格一同上传。"
             "填空题的空位写 {{1}}、{{2}}……，也可写三个以上下划线 ___。")),
    ("选项A…选项H", ("单选/多选：各选项内容。排序题：待排序的各项。"
                   "匹配题：每格一对“左项=右项”，同一右项可出现多次；只写右项（不含 =）表示干扰项。"
                   "注意：单元格不要以 = 开头，否则 Excel 会当作公式。")),
    ("答案", ("单选：B；多选：ABC、A,C 或 A、C；判断：正确/错误、对/错、T/F、√/×；"
             "填空：多个空用 | 分隔，同一空的多个可接受答案用 ; 分隔，数值写 9.8 或 9.8±0.1（或相对误差 9.8±1%），"
             "可空一格后写单位，如 9.8±0.1 m/s^2、50±0.5 %；排序：按正确顺序写字母，如 CAB；匹配：留空；简答：参考答案。")),
    ("解析", "可选。答题后或成绩公布后向学生展示。"),
    ("分值", "必填。大于 0 的数字。"),
    ("难度", "可选。1（容易）到 5（困难），也可写 容易/较易/中等/较难/困难。"),
    ("知识点", "可选。用 / 分级，如 力学/运动学；多个知识点用 ; 分隔。"),
    ("专题", "可选。题目所属专题；不填则为文件名。"),
    ("评分标准", "可选。简答题的评分标准。"),
    ("来源、作者", "可选。"),
    ("", ""),
    ("示例", ("单选题 | 题干：一物体从静止开始做匀加速直线运动，加速度 $a=2\\,\\mathrm{m/s^2}$，3 s 末的速度为 | "
             "选项A：3 m/s | 选项B：6 m/s | 答案：B | 分值：4")),
    ("示例", "填空题 | 题干：水的化学式是 ___，重力加速度约为 ___ | 答案：H2O;H₂O | 9.8±0.1 m/s^2"),
    ("示例", "匹配题 | 选项A：牛顿=万有引力定律 | 选项B：伽利略=理想斜面实验 | 选项C：相对论（干扰项）"),
    ("示例", "排序题 | 选项A：称量 | 选项B：溶解 | 选项C：计算 | 答案：CAB"),
]


def _workbook(rows: Iterable[list[Any]]) -> bytes:
    """The template workbook (xlsxwriter) with ``rows`` under the header, and the 说明 sheet.

    Every text is written with write_string, so a cell that starts with = + - @ stays text and is
    never a formula."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False,
                                        "strings_to_formulas": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet = book.add_worksheet("试题")
    for col, name in enumerate(COLUMNS):
        sheet.write_string(0, col, name, bold)
        width = 48 if name == "题干" else 14 if name.startswith("选项") or name in ("答案", "解析", "知识点") else 10
        sheet.set_column(col, col, width, wrap)
    sheet.freeze_panes(1, 0)
    sheet.data_validation(1, 1, 10_000, 1, {"validate": "list", "source": list(TYPE_NAMES.values())})
    for r, row in enumerate(rows, 1):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(r, col, value)
            else:
                sheet.write_string(r, col, str(value))
    guide = book.add_worksheet("说明")
    guide.set_column(0, 0, 14)
    guide.set_column(1, 1, 110, wrap)
    for r, (name, text) in enumerate(_GUIDE):
        guide.write_string(r, 0, name, bold if r == 0 else None)
        guide.write_string(r, 1, text, bold if r == 0 else wrap)
    book.close()
    return buffer.getvalue()


def template_bytes() -> bytes:
    """The empty question template (.xlsx) with its 说明 sheet, for the import page to offer."""
    return _workbook([])


def _blank_text(blank: dict) -> str:
    if "numeric" in blank:
        numeric = blank["numeric"]
        text = number_text(numeric["value"])
        if numeric.get("rel_tolerance"):
            text += f"±{number_text(numeric['rel_tolerance'] * 100)}%"
        elif numeric.get("tolerance"):
            text += f"±{number_text(numeric['tolerance'])}"
        return f"{text} {blank['unit']}" if blank.get("unit") else text
    return ";".join(blank["answers"])


def unexpressible(q: dict) -> tuple[str, str] | None:
    """Why ``q`` cannot be written in the template, or None."""
    qtype = q.get("type")
    if qtype == "group":
        return "材料题（题组）", "material groups"
    if len(q.get("options", [])) > 8 or len(q.get("items", [])) > 8:
        return "选项或排序项多于 8 个", "more than 8 options or items"
    if qtype == "matching":
        used = set(q["answer"].values())
        if len(q["prompts"]) + len([o for o in q["options"] if o["id"] not in used]) > 8:
            return "配对与干扰项合计多于 8 个", "more than 8 pairs and distractors"
        if any(len(split_outside_math(t, "=＝")) > 1 for t in (p["text"] for p in q["prompts"])):
            return "匹配题左项中含有 =", "a matching prompt contains ="
        if any(len(split_outside_math(o["text"], "=＝")) > 1 for o in q["options"] if o["id"] not in used):
            return "匹配题干扰项中含有 =", "a matching distractor contains ="
    if qtype == "fill_blank":
        for blank in q.get("blanks", []):
            if "numeric" in blank and "answers" in blank:
                return "同一空同时有文字和数值答案", "a blank with both text and numeric answers"
            if blank.get("case_sensitive"):
                return "区分大小写的填空", "a case-sensitive blank"
            if any(re.search(r"[;；|｜]", a) for a in blank.get("answers", [])):
                return "填空答案中含有分隔符 ; 或 |", "a blank answer contains ; or |"
    return None


def _row(q: dict) -> list[Any]:
    cells: dict[str, Any] = {"编号": q["key"], "题型": TYPE_NAMES[q["type"]], "题干": q["stem"],
                             "解析": q.get("explanation", ""), "分值": q.get("points"),
                             "难度": q.get("difficulty"), "知识点": ";".join(q.get("knowledge_points", [])),
                             "来源": q.get("source", ""), "作者": q.get("author", ""), "专题": q.get("topic", "")}
    qtype = q["type"]
    if qtype in ("single", "multiple", "ordering"):
        entries = q["items"] if qtype == "ordering" else q["options"]
        letter = {e["id"]: LETTERS[k] for k, e in enumerate(entries)}
        for k, e in enumerate(entries):
            cells[f"选项{LETTERS[k]}"] = e["text"]
        answer = [q["answer"]] if qtype == "single" else q["answer"]
        cells["答案"] = "".join(letter[a] for a in answer)
    elif qtype == "true_false":
        cells["答案"] = "正确" if q["answer"] else "错误"
    elif qtype == "fill_blank":
        cells["答案"] = "|".join(_blank_text(b) for b in q["blanks"])
    elif qtype == "matching":
        texts = {o["id"]: o["text"] for o in q["options"]}
        pairs = [f"{p['text']}={texts[q['answer'][p['id']]]}" for p in q["prompts"]]
        used = set(q["answer"].values())
        pairs += [o["text"] for o in q["options"] if o["id"] not in used]
        for k, pair in enumerate(pairs):
            cells[f"选项{LETTERS[k]}"] = pair
    elif qtype == "short_answer":
        cells["答案"] = q["reference_answer"]
        cells["评分标准"] = q.get("rubric", "")
    return [cells.get(name) for name in COLUMNS]


class ExcelExporter:
    """Writes questions into the Excel template (see the module docstring)."""

    name = NAME

    def export(self, questions: Iterable[dict], images: dict[str, bytes], *, subject: str) -> ExportResult:
        """Every expressible question as a row of ``<subject>.xlsx``, with its images beside it."""
        from app.domain.questions import image_refs

        rows: list[list[Any]] = []
        issues: list[Issue] = []
        files: dict[str, bytes] = {}
        for q in questions:
            why = unexpressible(q)
            if why:
                issues.append(Issue(q.get("key", ""), "export.not_expressible", f"Excel 模板无法表达此题：{why[0]}",
                                    f"cannot be written in the Excel template: {why[1]}"))
                continue
            refs = image_refs(q)
            missing = [ref for ref in refs if ref not in images]
            if missing:
                issues += [Issue(loc(q["key"], ref), "export.image_missing", f"缺少图片 {ref}", f"image {ref} is missing")
                           for ref in missing]
                continue
            files.update({ref: images[ref] for ref in refs})
            rows.append(_row(q))
        files[f"{subject}.xlsx"] = _workbook(rows)
        return ExportResult(files=files, issues=issues)


register_importer(ExcelImporter())
register_exporter(ExcelExporter())
