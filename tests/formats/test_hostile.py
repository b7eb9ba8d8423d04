"""Drills 22–24 (../shared/RELIABILITY.md): hostile Moodle XML, GIFT and .xlsx files.

Each hostile file must be refused with a located message in under 2 s and under 100 MB of Python
memory, measured around the importer call only: the time with time.process_time (CPU time) in one run, the
memory as the tracemalloc peak in a second run (tracemalloc slows Python code several times, so
timing under it would measure tracemalloc). These are refusal bounds, not benchmarks. Big inputs
are built in the test (the zip bomb as a precompressed deflate stream), never committed.
"""

from __future__ import annotations

import gc
import io
import random
import socket
import struct
import threading
import time
import tracemalloc
import zipfile
import zlib

import openpyxl
import pytest

from app.domain.questions import ParsedBank
from app.formats import moodle_xml
from app.formats.registry import IMPORTERS

MOODLE, GIFT, XLSX = IMPORTERS["moodle-xml"], IMPORTERS["gift"], IMPORTERS["xlsx"]
SECONDS, BYTES = 2.0, 100 * 2**20


def measured(parse, files: dict[str, bytes]) -> tuple[ParsedBank, float, int]:
    """The importer's result, its wall time, and its tracemalloc peak (from a second run)."""
    gc.collect()
    # CPU time of this process: the bound is about the parser's work, not about other jobs sharing the machine.
    started = time.process_time()
    bank = parse(files, subject="physics")
    elapsed = time.process_time() - started
    gc.collect()
    tracemalloc.start()
    try:
        again = parse(files, subject="physics")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [i.code for i in again.issues] == [i.code for i in bank.issues]
    return bank, elapsed, peak


def assert_refused(importer, name: str, data: bytes, code: str, seconds: float = SECONDS) -> ParsedBank:
    bank, elapsed, peak = measured(importer.parse, {name: data})
    assert bank.questions == [] and bank.images == {}
    assert code in [i.code for i in bank.issues], [i.message("en") for i in bank.issues]
    issue = next(i for i in bank.issues if i.code == code)
    assert issue.location.startswith(name) and issue.zh and issue.en
    assert elapsed < seconds, f"{elapsed:.2f} s"
    assert peak < BYTES, f"{peak / 2**20:.0f} MB"
    return bank


# --- drill 22: XXE ---------------------------------------------------------------------------

class Listener:
    """A TCP listener on loopback, on a port below 32768, that records every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for port in random.sample(range(20000, 32768), 500):
            try:
                self.sock.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port below 32768")
        self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.hits: list[tuple] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, address = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.hits.append(address)
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def xxe_payloads(port: int) -> dict[str, bytes]:
    url = f"http://127.0.0.1:{port}"
    essay = '<question type="essay"><name><text>x</text></name><questiontext><text>{}</text></questiontext></question>'
    return {
        "general.xml": (f'<?xml version="1.0"?>\n<!DOCTYPE quiz [<!ENTITY ext SYSTEM "{url}/secret">]>\n'
                        f"<quiz>{essay.format('&ext;')}</quiz>").encode(),
        "parameter.xml": (f'<?xml version="1.0"?>\n<!DOCTYPE quiz [<!ENTITY % remote SYSTEM "{url}/evil.dtd"> %remote;]>\n'
                          f"<quiz>{essay.format('x')}</quiz>").encode(),
        "external-dtd.xml": (f'<?xml version="1.0"?>\n<!DOCTYPE quiz SYSTEM "{url}/evil.dtd">\n'
                             f"<quiz>{essay.format('x')}</quiz>").encode(),
        "public-dtd.xml": (f'<?xml version="1.0"?>\n<!DOCTYPE quiz PUBLIC "-//X//Y" "{url}/p.dtd">\n'
                           f"<quiz>{essay.format('x')}</quiz>").encode(),
    }


@pytest.mark.parametrize("name", ["general.xml", "parameter.xml", "external-dtd.xml", "public-dtd.xml"])
def test_external_entities_to_a_loopback_listener_are_refused_without_a_connection(listener, name):
    bank = assert_refused(MOODLE, name, xxe_payloads(listener.port)[name], "xml.entities")
    assert "line 2" in bank.issues[0].location
    assert "不允许 DTD 或实体" in bank.issues[0].zh and "entities not allowed" in bank.issues[0].en
    time.sleep(0.3)
    assert listener.hits == []


def test_an_image_url_to_the_listener_is_never_fetched(listener):
    data = ('<quiz><question type="truefalse"><name><text>t</text></name><questiontext format="html"><text>'
            f'&lt;img src="http://127.0.0.1:{listener.port}/x.png"&gt;</text></questiontext>'
            '<answer fraction="100"><text>true</text></answer></question></quiz>').encode()
    bank = MOODLE.parse({"img.xml": data}, subject="physics")
    assert "image.external" in [n.code for n in bank.notes]
    time.sleep(0.3)
    assert listener.hits == []


def test_the_listener_would_have_seen_a_connection(listener):
    # Proves the two tests above can fail: a real connection is recorded.
    socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
    deadline = time.monotonic() + 2
    while not listener.hits and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(listener.hits) == 1


def test_external_entity_to_a_local_file_is_refused():
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE quiz [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<quiz>'
            b'<question type="essay"><name><text>x</text></name><questiontext><text>&xxe;</text></questiontext>'
            b'<graderinfo><text>&xxe;</text></graderinfo></question></quiz>')
    bank = assert_refused(MOODLE, "passwd.xml", data, "xml.entities")
    assert "root:" not in repr(bank)


def test_an_undeclared_entity_is_refused_too():
    bank = assert_refused(MOODLE, "u.xml", b"<quiz>\n<question type='essay'>&xxe;</question></quiz>", "xml.entities")
    assert "line 2" in bank.issues[0].location


# --- drill 23: XML bombs and hostile GIFT ----------------------------------------------------------

def test_billion_laughs_is_refused():
    entities = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">'
                                          for i in range(1, 10)]
    data = ('<?xml version="1.0"?>\n<!DOCTYPE quiz [\n' + "\n".join(entities) + "\n]>\n"
            '<quiz><question type="essay"><questiontext><text>&lol9;</text></questiontext></question></quiz>').encode()
    assert_refused(MOODLE, "laughs.xml", data, "xml.entities")


def test_quadratic_blowup_is_refused():
    data = ('<?xml version="1.0"?>\n<!DOCTYPE quiz [<!ENTITY a "' + "x" * 200_000 + '">]>\n'
            '<quiz><question type="essay"><questiontext><text>' + "&a;" * 100_000 +
            "</text></questiontext></question></quiz>").encode()
    assert_refused(MOODLE, "quadratic.xml", data, "xml.entities")


def test_a_50_mb_xml_file_is_refused_before_parsing():
    data = b"<quiz>" + b" " * (50 * 2**20) + b"</quiz>"
    bank = assert_refused(MOODLE, "big.xml", data, "xml.too_large", seconds=0.5)
    assert "50" in bank.issues[0].en


def test_deeply_nested_xml_is_refused():
    nested = b"<quiz>\n" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</quiz>"
    bank = assert_refused(MOODLE, "deep.xml", nested, "xml.too_deep")
    assert "line 2" in bank.issues[0].location


def test_millions_of_elements_are_refused_by_counting_before_parsing():
    data = b"<quiz>" + b"<a/>" * 2_000_000 + b"</quiz>"  # 8 MB, well under the size limit
    assert_refused(MOODLE, "wide.xml", data, "xml.too_many_elements")


def test_the_element_limit_also_holds_inside_the_parser(monkeypatch):
    monkeypatch.setattr(moodle_xml, "MAX_XML_ELEMENTS", 1_000)
    data = b"<quiz>\n" + b"<a/>\n" * 1_500 + b"</quiz>"  # few enough tags to pass the byte count
    bank = assert_refused(MOODLE, "wide.xml", data, "xml.too_many_elements")
    assert "line 1001" in bank.issues[0].location  # the 1,001st element


def test_deeply_nested_html_in_a_question_is_handled_quickly():
    html = "<b><i>" * 10_000 + "文字" + "</i></b>" * 10_000
    data = ('<quiz><question type="truefalse"><name><text>t</text></name><questiontext format="html"><text><![CDATA['
            + html + ']]></text></questiontext><answer fraction="100"><text>true</text></answer></question></quiz>').encode()
    bank, elapsed, peak = measured(MOODLE.parse, {"deep-html.xml": data})
    assert bank.issues == [] and "文字" in bank.questions[0]["stem"]
    assert elapsed < SECONDS and peak < BYTES


@pytest.mark.parametrize("fields, limit", [(1, None), (120, 5_000)])
def test_too_much_html_markup_is_refused(monkeypatch, fields, limit):
    if limit:  # many fields: the budget runs out while converting; a small one keeps the test quick
        monkeypatch.setattr(moodle_xml, "MAX_MARKUP_TAGS", limit)
    tags = "<span>x</span>" * (60_000 // fields)
    question = ('<question type="truefalse"><name><text>t</text></name><questiontext format="html"><text><![CDATA['
                + tags + ']]></text></questiontext><answer fraction="100"><text>true</text></answer></question>')
    data = ("<quiz>\n" + "\n".join([question] * fields) + "</quiz>").encode()
    assert_refused(MOODLE, "markup.xml", data, "import.too_much_markup")


def test_gift_with_100000_nested_braces_is_refused_in_well_under_a_second():
    data = ("::深::题目 " + "{" * 100_000 + "}" * 100_000 + "\n").encode()
    bank = assert_refused(GIFT, "nested.gift", data, "gift.nested_brace", seconds=0.5)
    assert "line 1" in bank.issues[0].location


def test_gift_with_100000_nested_braces_on_separate_lines():
    data = ("题目\n" + "{\n" * 100_000 + "}\n" * 100_000).encode()
    bank = assert_refused(GIFT, "lines.gift", data, "gift.nested_brace")
    assert "line 3" in bank.issues[0].location


@pytest.mark.parametrize("body", [
    "$" + "{" * 50_000,                       # braces after a lone $
    "\\(" * 50_000 + "{=a}",                 # math openers that never close
    "{=a}\n\n" * 50_000,                     # too many questions: refused before any is read
    "{\n\n" * 50_000,                        # too many broken questions
    "::" * 50_000,                            # an unclosed title
    "{" + "=a->" * 50_000 + "}",              # a huge answer block: refused unread
    "[html]" + "<b>" * 60_000 + "{T}",        # too much HTML markup
])
def test_gift_pathological_inputs_stay_linear(body):
    bank, elapsed, peak = measured(GIFT.parse, {"p.gift": body.encode()})
    assert isinstance(bank, ParsedBank) and elapsed < SECONDS and peak < BYTES
    assert len(bank.issues) <= 502


def test_a_too_large_gift_file_is_refused():
    assert_refused(GIFT, "big.gift", b"x" * 5_000_001, "gift.too_large", seconds=0.5)


# --- drill 24: hostile zips as .xlsx --------------------------------------------------------------

def _local(name: bytes, method: int, crc: int, csize: int, usize: int) -> bytes:
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, csize, usize, len(name), 0) + name


def _central(name: bytes, method: int, crc: int, csize: int, usize: int, offset: int) -> bytes:
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, csize, usize,
                       len(name), 0, 0, 0, 0, 0, offset) + name


def raw_zip(entries: list[tuple[str, int, int, bytes, int]]) -> bytes:
    """A zip from (name, method, crc, compressed payload, declared uncompressed size) entries."""
    out, central = io.BytesIO(), []
    for name, method, crc, payload, usize in entries:
        offset = out.tell()
        out.write(_local(name.encode(), method, crc, len(payload), usize))
        out.write(payload)
        central.append(_central(name.encode(), method, crc, len(payload), usize, offset))
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), start, 0))
    return out.getvalue()


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.fixture(scope="module")
def workbook_parts() -> list[tuple[str, int, int, bytes, int]]:
    """The entries of a real one-sheet workbook, deflated."""
    book = openpyxl.Workbook()
    book.active.append(["题型", "题干", "答案"])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return [(n, 8, zlib.crc32(d), deflated(d), len(d)) for n in archive.namelist() for d in [archive.read(n)]]


@pytest.fixture(scope="module")
def gigabyte_of_zeros() -> tuple[bytes, int]:
    """1 GiB of zeros as one deflate stream (about 1 MB) and its CRC-32, built in well under a second:
    a fully flushed block is independent of what came before, so one block repeats 1024 times."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(2**20)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    return block * 1024 + compressor.flush(), crc


def with_sheet(parts, sheet: tuple[bytes, int], declared: int) -> bytes:
    payload, crc = sheet
    return raw_zip([p for p in parts if p[0] != "xl/worksheets/sheet1.xml"] +
                   [("xl/worksheets/sheet1.xml", 8, crc, payload, declared)])


def test_a_1_gb_zip_bomb_is_refused_before_parsing(workbook_parts, gigabyte_of_zeros):
    data = with_sheet(workbook_parts, gigabyte_of_zeros, 2**30)
    assert len(data) < 2 * 2**20
    bank = assert_refused(XLSX, "bomb.xlsx", data, "xlsx.zip_bomb")
    assert "sheet1.xml" in bank.issues[0].zh


def test_a_zip_bomb_that_lies_about_its_size_is_stopped_while_reading(workbook_parts, gigabyte_of_zeros):
    # The directory claims 5000 bytes, so the ratio check passes; reading stops at the declared size
    # and the CRC no longer matches: refused as unreadable, without inflating the gigabyte.
    data = with_sheet(workbook_parts, gigabyte_of_zeros, 5000)
    assert_refused(XLSX, "liar.xlsx", data, "xlsx.unreadable")


def test_100_mb_uncompressed_in_total_is_refused(workbook_parts):
    # Three entries each within the ratio limit (80:1) but 120 MB together, as the directory declares.
    payload = random.Random(24).randbytes(2**19)
    parts = workbook_parts + [(f"xl/media/image{i}.bin", 8, 0, payload, 80 * 2**19) for i in range(3)]
    assert_refused(XLSX, "total.xlsx", raw_zip(parts), "xlsx.too_big_uncompressed")


def test_an_xlsx_with_100000_entries_is_refused_from_its_directory_record():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(100_000):
            archive.writestr(f"xl/e{i}", b"")
    bank = assert_refused(XLSX, "entries.xlsx", buffer.getvalue(), "xlsx.too_many_entries")
    assert "100000" in bank.issues[0].en


@pytest.mark.parametrize("evil", ["../../etc/cron.d/evil", "xl/../../evil.xml", "/etc/passwd", "C:\\Windows\\evil.dll",
                                  "xl\\..\\..\\evil"])
def test_unsafe_paths_are_refused(workbook_parts, evil):
    data = raw_zip(workbook_parts + [(evil, 0, zlib.crc32(b"x"), b"x", 1)])
    bank = assert_refused(XLSX, "paths.xlsx", data, "xlsx.bad_path")
    assert evil[:20] in bank.issues[0].en


@pytest.mark.parametrize("data, code", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "xlsx.not_zip"),
    (b"<html><body>not a sheet</body></html>", "xlsx.not_zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000, "xlsx.old_format"),
    (b"PK\x05\x06" + b"\0" * 18, "xlsx.not_workbook"),
    (b"PK" + b"\xff" * 5000, "xlsx.bad_zip"),
])
def test_non_spreadsheets_are_refused_clearly(data, code):
    assert_refused(XLSX, "upload.xlsx", data, code)


def test_a_too_large_xlsx_is_refused_before_opening():
    assert_refused(XLSX, "huge.xlsx", b"PK" + b"\0" * (20_000_001), "xlsx.too_large", seconds=0.5)
