"""The student registration file (XLSX or CSV): decoding, reading and whole-file validation.

Pure Python (no Flask, no SQLAlchemy): the service hands in what the database knows (leagues,
subjects, schools, exam numbers already taken) as plain data and gets back validated rows and every
problem, each located by spreadsheet row number (the header is row 1) and field.

Rules, stated once:
- Columns are found by their header, Chinese or English (``HEADERS``); 姓名, 学校, 盟市 and 学科 are
  required columns, the others optional. Extra columns are ignored and reported as a note.
- 准考证号 is text (leading zeros kept). Left empty, it is generated from the pattern (``render_number``).
  It must be unique in the file and not registered already.
- 盟市 is a 6-digit division code or a league's Chinese or English name; 学科 a code or a Chinese or
  English subject name; 性别 男/女/M/F (empty: unknown); 身份证号 optional, checked with GB 11643.
- 学校 is looked up within the row's league; a school not yet known is listed as new and created
  only after the operator confirms.
- 考场 and 座位号 are optional; a seat needs a room; a (school, room, seat) may appear only once.
- CSV: UTF-8 (with or without BOM) is taken as is; otherwise GBK/GB18030 is accepted only when the
  header decodes to two or more known Chinese column names; anything else raises ``EncodingUnknown`` so the operator is
  asked which encoding the file has. A file is never decoded by guessing into garbled text.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.domain import national_id, people

# field name -> accepted header spellings (compared after stripping spaces and '*', case-folded)
HEADERS: dict[str, tuple[str, ...]] = {
    "exam_number": ("准考证号", "准考证", "考号", "exam_number", "exam number", "examnumber"),
    "name": ("姓名", "name"),
    "gender": ("性别", "gender", "sex"),
    "school": ("学校", "school"),
    "grade": ("年级", "grade"),
    "league": ("盟市", "盟市代码", "league", "city"),
    "subject": ("学科", "subject"),
    "national_id": ("身份证号", "身份证号码", "身份证", "national_id", "id number", "idnumber"),
    "room": ("考场", "room"),
    "seat": ("座位号", "座位", "seat"),
}
REQUIRED = ("name", "school", "league", "subject")
TEMPLATE_HEADERS = ("准考证号", "姓名", "性别", "学校", "年级", "盟市", "学科", "身份证号", "考场", "座位号")
FIELD_LABELS = {"exam_number": ("准考证号", "exam number"), "name": ("姓名", "name"), "gender": ("性别", "gender"),
                "school": ("学校", "school"), "grade": ("年级", "grade"), "league": ("盟市", "league"),
                "subject": ("学科", "subject"), "national_id": ("身份证号", "national ID"),
                "room": ("考场", "room"), "seat": ("座位号", "seat"), "file": ("文件", "file")}
DEFAULT_PATTERN = "{year}{league}{seq:04d}"
MAX_ROWS = 20000
MAX_XLSX_UNCOMPRESSED = 64 * 1024 * 1024
MAX_XLSX_RATIO = 200
MAX_XLSX_ENTRIES = 2000


class FileRefused(ValueError):
    """The file as a whole cannot be read (format, size, encoding); carries zh and en reasons."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en


class EncodingUnknown(FileRefused):
    """The CSV is not UTF-8 and its encoding could not be recognised: ask the operator."""

    def __init__(self) -> None:
        super().__init__("encoding_unknown", "无法识别 CSV 文件的编码，请选择文件编码（UTF-8 或 GBK）后重新上传",
                         "the CSV file's encoding could not be recognised; choose UTF-8 or GBK and upload again")


@dataclass(frozen=True)
class Issue:
    """One problem: spreadsheet row (1 = header, 0 = the whole file), field, stable code, zh and en reasons."""

    row: int
    field: str
    code: str
    zh: str
    en: str

    @property
    def field_zh(self) -> str:
        return FIELD_LABELS.get(self.field, (self.field, self.field))[0]

    @property
    def field_en(self) -> str:
        return FIELD_LABELS.get(self.field, (self.field, self.field))[1]


@dataclass
class StudentRow:
    """One valid row, normalized; ``exam_number`` filled in (given or generated)."""

    row: int
    exam_number: str
    name: str
    gender: str
    school: str
    grade: str
    league_code: str
    subject_code: str
    national_id: str | None = None
    room: str | None = None
    seat: int | None = None
    generated_number: bool = False


@dataclass(frozen=True)
class Reference:
    """What the database knows, as plain data."""

    leagues: dict[str, str]          # code -> code, Chinese name -> code, English name (folded) -> code
    subjects: dict[str, str]         # code / Chinese / English name (folded) -> code
    schools: set[tuple[str, str]]    # (league code, school name)
    taken_numbers: set[str]          # exam numbers already registered
    year: int = 2026
    pattern: str = DEFAULT_PATTERN
    allowed_leagues: frozenset[str] | None = None  # a league admin's league; None: all


@dataclass
class ParseResult:
    """Valid rows, every issue, and what would be created."""

    rows: list[StudentRow] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    new_schools: list[tuple[str, str]] = field(default_factory=list)
    encoding: str | None = None
    total_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues


# --- reading ---------------------------------------------------------------------------------------

def _fold(value: str) -> str:
    return re.sub(r"[\s*＊]", "", value).casefold()


def decode_csv(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode CSV bytes; returns (text, encoding used). See the module docstring for the rule."""
    if encoding:
        name = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030",
                "gb18030": "gb18030"}.get(encoding.lower())
        if name is None:
            raise FileRefused("encoding_unsupported", f"不支持的编码：{encoding}", f"unsupported encoding: {encoding}")
        try:
            return data.decode(name), "gbk" if name == "gb18030" else "utf-8"
        except UnicodeDecodeError:
            raise FileRefused("encoding_mismatch", f"文件不是 {encoding} 编码，请选择正确的编码",
                              f"the file is not {encoding}; choose the right encoding") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise EncodingUnknown() from None
    first = text.splitlines()[0] if text else ""
    known = {_fold(h) for spellings in HEADERS.values() for h in spellings}
    cells = [_fold(c) for c in next(csv.reader([first]), [])]
    # Evidence needs non-ASCII header names (ASCII reads the same in every encoding).
    if sum(1 for c in cells if c in known and not c.isascii()) >= 2:
        return text, "gbk"
    raise EncodingUnknown()


def _check_zip(data: bytes) -> None:
    """Refuse hostile XLSX containers before parsing: too many entries, too large, too compressed, bad paths."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise FileRefused("not_xlsx", "文件不是有效的 XLSX 工作簿", "the file is not a valid XLSX workbook") from None
    infos = archive.infolist()
    if len(infos) > MAX_XLSX_ENTRIES:
        raise FileRefused("xlsx_hostile", "XLSX 文件包含过多条目", "the XLSX file has too many entries")
    total = 0
    for info in infos:
        if info.filename.startswith(("/", "\\")) or ".." in info.filename.replace("\\", "/").split("/"):
            raise FileRefused("xlsx_hostile", "XLSX 文件包含非法路径", "the XLSX file contains an illegal path")
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > MAX_XLSX_RATIO and info.file_size > 1 << 20:
            raise FileRefused("xlsx_hostile", "XLSX 文件压缩比异常（疑似压缩炸弹）", "the XLSX compression ratio is suspicious")
    if total > MAX_XLSX_UNCOMPRESSED:
        raise FileRefused("too_large", "XLSX 文件解压后过大", "the XLSX file is too large when uncompressed")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(data: bytes, filename: str, encoding: str | None = None) -> tuple[list[list[str]], str | None]:
    """The file's rows as lists of strings (row 0 = header) and the CSV encoding used (None for XLSX)."""
    lower = filename.lower()
    if lower.endswith(".xlsx") or data[:2] == b"PK":
        _check_zip(data)
        from openpyxl import load_workbook

        # read_only parses the sheet lazily, while iterating: a broken sheet raises there, not at load
        # (an XML ParseError escaped as a 500; found by tests/fuzz/test_parser_fuzz.py).
        rows = []
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                for values in book.worksheets[0].iter_rows(values_only=True):
                    rows.append([_cell_text(v) for v in values])
                    if len(rows) > MAX_ROWS + 1:
                        raise FileRefused("too_many_rows", f"超过 {MAX_ROWS} 行", f"more than {MAX_ROWS} rows")
            finally:
                book.close()
        except FileRefused:
            raise
        except Exception:  # noqa: BLE001  (openpyxl raises many kinds for malformed workbooks)
            raise FileRefused("not_xlsx", "无法读取 XLSX 工作簿", "the XLSX workbook cannot be read") from None
        return rows, None
    if not lower.endswith((".csv", ".txt")):
        raise FileRefused("format", "只接受 .xlsx 或 .csv 文件", "only .xlsx and .csv files are accepted")
    text, used = decode_csv(data, encoding)
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    if len(rows) > MAX_ROWS + 1:
        raise FileRefused("too_many_rows", f"超过 {MAX_ROWS} 行", f"more than {MAX_ROWS} rows")
    return rows, used


# --- numbering -------------------------------------------------------------------------------------

_SEQ = re.compile(r"\{seq(?::0?(\d+)d)?\}")


def check_pattern(pattern: str) -> None:
    """A numbering pattern uses {year}, {league} and exactly one {seq} or {seq:0Nd}; raises FileRefused.

    The numbers it makes must be valid exam numbers (people.valid_exam_number: at most 32 characters):
    ``{seq:09999999d}`` used to render ten-million-digit numbers (found by tests/fuzz/test_parser_fuzz.py).
    """
    if len(_SEQ.findall(pattern)) != 1 or re.sub(r"\{(year|league)\}", "", _SEQ.sub("", pattern)).count("{"):
        raise FileRefused("bad_pattern", "编号规则须包含一个 {seq}，并且只能使用 {year}、{league}",
                          "the numbering pattern needs one {seq} and may use only {year} and {league}")
    width = int(_SEQ.search(pattern).group(1) or 0)
    if width > 12 or len(render_number(pattern, year=2026, league="150100", seq=1)) > 32:
        raise FileRefused("bad_pattern", "编号规则生成的准考证号过长（最多 32 个字符）",
                          "the numbering pattern makes exam numbers longer than 32 characters")


def render_number(pattern: str, *, year: int, league: str, seq: int) -> str:
    """One exam number from the pattern, e.g. ``{year}{league}{seq:04d}`` → 20261501000007."""
    def seq_text(match: re.Match) -> str:
        width = int(match.group(1) or 0)
        return str(seq).zfill(width)

    return _SEQ.sub(seq_text, pattern.replace("{year}", str(year)).replace("{league}", league))


def next_numbers(pattern: str, *, year: int, league: str, taken: set[str], count: int) -> list[str]:
    """``count`` numbers for a league, each after the highest sequence of the same pattern already taken."""
    filled = pattern.replace("{year}", str(year)).replace("{league}", league)
    head, tail = _SEQ.split(filled, maxsplit=1)[0], _SEQ.split(filled, maxsplit=1)[-1]
    shape = re.compile("^" + re.escape(head) + r"(\d+)" + re.escape(tail) + "$")
    highest = max((int(m.group(1)) for m in map(shape.match, taken) if m), default=0)
    result: list[str] = []
    seq = highest
    while len(result) < count:
        seq += 1
        number = render_number(pattern, year=year, league=league, seq=seq)
        if number not in taken:
            result.append(number)
    return result


# --- validation ------------------------------------------------------------------------------------

def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    spelled = {_fold(s): name for name, spellings in HEADERS.items() for s in spellings}
    found: dict[str, int] = {}
    extra = []
    for index, cell in enumerate(header):
        name = spelled.get(_fold(cell))
        if name and name not in found:
            found[name] = index
        elif cell.strip():
            extra.append(cell.strip())
    return found, extra


def parse(table: list[list[str]], ref: Reference, *,
          seat_taken: Callable[[str, str, str, int], bool] | None = None) -> ParseResult:
    """Validate every row of a table (row 0 = header) against ``ref``; see the module docstring."""
    result = ParseResult()
    if not table or not any(c.strip() for c in table[0]):
        result.issues.append(Issue(0, "file", "empty", "文件为空或缺少表头行", "the file is empty or has no header row"))
        return result
    columns, extra = _columns(table[0])
    for name in REQUIRED:
        if name not in columns:
            zh, en = FIELD_LABELS[name]
            result.issues.append(Issue(1, name, "missing_column", f"缺少必需的列“{zh}”", f'missing required column "{en}"'))
    if extra:
        result.notes.append("已忽略的列 / ignored columns: " + ", ".join(extra))
    if result.issues:
        return result

    def get(cells: list[str], name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    seen_numbers: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    seen_seats: dict[tuple[str, str, str, int], int] = {}
    new_schools: dict[tuple[str, str], int] = {}
    pending: list[StudentRow] = []
    for offset, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        result.total_rows += 1
        before = len(result.issues)

        def bad(name: str, code: str, zh: str, en: str, row: int = offset) -> None:
            result.issues.append(Issue(row, name, code, zh, en))

        raw_name = get(cells, "name")
        name = people.normalize_name(raw_name)
        if not name:
            bad("name", "missing_name", "姓名不能为空", "the name is missing")
        elif not people.valid_name(name):
            bad("name", "invalid_name", f"姓名含有不允许的字符：{raw_name}", f"the name has characters not allowed: {raw_name}")
        raw_league = get(cells, "league")
        league = ref.leagues.get(raw_league) or ref.leagues.get(_fold(raw_league))
        if not raw_league:
            bad("league", "missing_league", "盟市不能为空", "the league is missing")
        elif league is None:
            bad("league", "unknown_league", f"未知盟市：{raw_league}（请填写盟市名称或 6 位代码）",
                f"unknown league: {raw_league} (use the league's name or 6-digit code)")
        elif ref.allowed_leagues is not None and league not in ref.allowed_leagues:
            bad("league", "outside_scope", f"您只能导入本盟市的考生：{raw_league}", f"you may import only your own league: {raw_league}")
        raw_subject = get(cells, "subject")
        subject = ref.subjects.get(raw_subject) or ref.subjects.get(_fold(raw_subject))
        if subject is None:
            bad("subject", "unknown_subject", f"未知学科：{raw_subject or '（空）'}（数学、物理、化学、生物、计算机）",
                f"unknown subject: {raw_subject or '(empty)'} (math, physics, chemistry, biology, cs)")
        school = " ".join(get(cells, "school").split())
        if not school:
            bad("school", "missing_school", "学校不能为空", "the school is missing")
        elif len(school) > 128:
            bad("school", "invalid_school", "学校名称过长（最多 128 字）", "the school name is too long (128 max)")
        raw_gender = get(cells, "gender")
        gender = people.parse_gender(raw_gender)
        if gender is None:
            bad("gender", "bad_gender", f"性别应为 男/女：{raw_gender}", f"gender must be 男/女 (M/F): {raw_gender}")
        grade = get(cells, "grade")
        if len(grade) > 16:
            bad("grade", "bad_grade", "年级过长（最多 16 字）", "the grade is too long (16 max)")
        number = get(cells, "exam_number")
        if number:
            if not people.valid_exam_number(number):
                bad("exam_number", "bad_exam_number", f"准考证号格式无效：{number}（4–32 位字母、数字或连字符）",
                    f"invalid exam number: {number} (4–32 letters, digits or hyphens)")
            elif number in seen_numbers:
                bad("exam_number", "duplicate_in_file", f"准考证号 {number} 在文件中重复（第 {seen_numbers[number]} 行已有）",
                    f"exam number {number} repeats row {seen_numbers[number]} of the file")
            elif number in ref.taken_numbers:
                bad("exam_number", "duplicate_in_db", f"准考证号 {number} 已被注册", f"exam number {number} is already registered")
            seen_numbers.setdefault(number, offset)
        raw_id = get(cells, "national_id")
        nid = None
        if raw_id:
            try:
                nid = national_id.validate(raw_id)
            except national_id.NationalIdError as exc:
                bad("national_id", "bad_national_id", exc.zh, exc.en)
            else:
                if nid in seen_ids:
                    bad("national_id", "duplicate_id_in_file", f"身份证号在文件中重复（第 {seen_ids[nid]} 行已有）",
                        f"the national ID repeats row {seen_ids[nid]} of the file")
                seen_ids.setdefault(nid, offset)
        room = " ".join(get(cells, "room").split()) or None
        raw_seat = get(cells, "seat")
        seat = None
        if raw_seat:
            if not raw_seat.isdigit() or not 0 < int(raw_seat) <= 1000:
                bad("seat", "bad_seat", f"座位号应为 1–1000 的整数：{raw_seat}", f"the seat must be a whole number 1–1000: {raw_seat}")
            elif room is None:
                bad("seat", "seat_without_room", "填写座位号时必须填写考场", "a seat needs a room")
            else:
                seat = int(raw_seat)
        if room and len(room) > 64:
            bad("room", "bad_room", "考场名称过长（最多 64 字）", "the room name is too long (64 max)")
        if seat is not None and league and school and room:
            key = (league, school, room, seat)
            if key in seen_seats:
                bad("seat", "duplicate_seat", f"{room} {seat} 号座位在文件中重复（第 {seen_seats[key]} 行已有）",
                    f"seat {seat} of room {room} repeats row {seen_seats[key]}")
            elif seat_taken is not None and seat_taken(*key):
                bad("seat", "seat_taken", f"{room} {seat} 号座位已有考生", f"seat {seat} of room {room} is already taken")
            seen_seats.setdefault(key, offset)
        if len(result.issues) != before:
            continue
        if (league, school) not in ref.schools:
            new_schools.setdefault((league, school), offset)
        pending.append(StudentRow(offset, number, name, gender, school, grade, league, subject, nid, room, seat))
    taken = set(ref.taken_numbers) | set(seen_numbers)
    missing: dict[str, list[StudentRow]] = {}
    for row in pending:
        if not row.exam_number:
            missing.setdefault(row.league_code, []).append(row)
    if missing:
        check_pattern(ref.pattern)
    for league, rows in missing.items():
        for row, number in zip(rows, next_numbers(ref.pattern, year=ref.year, league=league, taken=taken,
                                                  count=len(rows))):
            row.exam_number, row.generated_number = number, True
            taken.add(number)
    result.rows = pending
    result.new_schools = sorted(new_schools)
    return result


def reference_maps(leagues: Iterable[tuple[str, str, str]], subjects: Iterable[tuple[str, str, str]]
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """Look-up maps from (code, Chinese name, English name) rows of leagues and subjects."""
    league_map: dict[str, str] = {}
    for code, zh, en in leagues:
        for key in (code, zh, _fold(zh), _fold(en), zh.removesuffix("市"), zh.removesuffix("盟")):
            league_map.setdefault(key, code)
    subject_map: dict[str, str] = {}
    for code, zh, en in subjects:
        for key in (code, _fold(code), zh, _fold(en)):
            subject_map.setdefault(key, code)
    for alias, code in (("信息学", "cs"), ("信息技术", "cs"), ("计算机科学", "cs"), ("生物学", "biology"),
                        ("maths", "math"), ("mathematics", "math"), ("computer science", "cs"),
                        ("computerscience", "cs")):
        if code in subject_map.values():
            subject_map.setdefault(alias, code)
    return league_map, subject_map


def template_csv() -> bytes:
    """The downloadable CSV template (UTF-8 with BOM so Excel opens Chinese correctly), with one example row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TEMPLATE_HEADERS)
    writer.writerow(["", "张晓彤", "女", "呼和浩特市第一中学", "高一", "呼和浩特市", "物理", "", "第1考场", "1"])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    """The downloadable XLSX template: header, one example row, every column formatted as text."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("考生")
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True, "num_format": "@"})
    for col, title in enumerate(TEMPLATE_HEADERS):
        sheet.set_column(col, col, 18, text)
        sheet.write_string(0, col, title, bold)
    example = ["", "张晓彤", "女", "呼和浩特市第一中学", "高一", "呼和浩特市", "物理", "", "第1考场", "1"]
    for col, value in enumerate(example):
        sheet.write_string(1, col, value)
    notes = book.add_worksheet("说明")
    for i, line in enumerate([
        "准考证号可留空，系统按规则（年份 + 盟市代码 + 序号）生成；填写时按文本保存，保留前导 0。",
        "必填：姓名、学校、盟市（名称或 6 位代码）、学科（数学/物理/化学/生物/计算机）。",
        "可选：性别（男/女）、年级、身份证号（校验位检查）、考场、座位号（填座位号须填考场）。",
        "Exam number may be empty (generated). Required: name, school, league, subject.",
    ]):
        notes.write_string(i, 0, line)
    book.close()
    return out.getvalue()
