"""A minimal streaming XLSX writer for large, plain tables (the ranking export).

Why not xlsxwriter for these rows: even in its constant_memory mode it spends ~50 µs of Python per
cell (a cell object, a dict per row, attribute lists and escaping per cell), so the 3 million cells of
a 100,000-row ranking export (an overall sheet plus one sheet per league) took 10 s of CPU in the
writer alone; and constant_memory writes a string that starts with ``<r>`` and ends with ``</r>``
into the sheet XML unescaped (it takes it for a rich string), so a student name could inject cells.

Here a row is rendered once to its XML (every string escaped, always an inline string cell, never a
formula) with a placeholder for the row number, and the same rendering goes to the overall sheet
and to the league's sheet. Each sheet's rows go to its own temporary file; ``close`` writes the
package (content types, relationships, workbook, styles, sheets) as a ZIP. The styles are the four
cell formats the export uses; the parts are the ones xlsxwriter writes, minus the theme and document
properties, which spreadsheets do not need.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

# Cell styles (indexes into cellXfs of STYLES_XML).
PLAIN, LABEL, TEXT, HEAD, SCORE = 0, 1, 2, 3, 4

STYLES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="@"/><numFmt numFmtId="165" formatCode="0.00"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFE8EEF7"/><bgColor indexed="64"/></patternFill></fill>'
    '</fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>'
    '<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom><diagonal/></border>'
    '</borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"'
    ' applyAlignment="1"><alignment wrapText="1"/></xf>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>'
    '</styleSheet>'
)

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_ROW = "\x00"  # placeholder for the row number in a rendered row (never in escaped text: NUL becomes _x0000_)
_FLUSH_ROWS = 1000

# Anything that needs escaping: XML specials, control characters (written as _xHHHH_ like Excel and
# xlsxwriter), and leading or trailing whitespace (needs xml:space="preserve").
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f]|^\s|\s$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape(value: str) -> str:
    """Escape text for an XML attribute or element."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _text(value: str) -> str:
    """The <t> element of an inline string."""
    if _SPECIAL.search(value) is None:
        return "<t>" + value + "</t>"
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", escaped)
    if value[:1].isspace() or value[-1:].isspace():
        return '<t xml:space="preserve">' + escaped + "</t>"
    return "<t>" + escaped + "</t>"


class Renderer:
    """Renders rows of cells to XML once, for any number of sheets: str -> text cell (style
    ``text_style``), float -> number (``float_style``), int -> number (no style), None -> no cell."""

    def __init__(self, columns: int, *, text_style: int = TEXT, float_style: int = SCORE):
        refs = [f'<c r="{column_letter(i)}{_ROW}"' for i in range(columns)]
        self._text = [f'{ref} s="{text_style}" t="inlineStr"><is>' for ref in refs]
        self._float = [f'{ref} s="{float_style}"><v>' for ref in refs]
        self._int = [f"{ref}><v>" for ref in refs]

    def render(self, cells: Sequence[Any]) -> str:
        """One row's cells as XML, with a placeholder for the row number (see ``Sheet.add_rendered``)."""
        parts = []
        append = parts.append
        for index, value in enumerate(cells):
            if value is None:
                continue
            kind = type(value)
            if kind is str:
                append(self._text[index] + _text(value) + "</is></c>")
            elif kind is float:
                number = repr(value)
                if number[-1] in "nf":  # nan, inf: no such number in a spreadsheet
                    continue
                append(self._float[index] + number + "</v></c>")
            else:
                append(self._int[index] + str(int(value)) + "</v></c>")
        return "".join(parts)


class Sheet:
    """One worksheet: rows are appended in order to a temporary file."""

    def __init__(self, name: str, widths: Sequence[float], freeze_rows: int, selected: bool):
        self.name = name
        self.widths = list(widths)
        self.freeze_rows = freeze_rows
        self.selected = selected
        self.rows = 0  # rows used so far (the next row is rows + 1)
        self.max_columns = 0
        self._file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by Workbook.close)
        self._buffer: list[str] = []

    def skip(self, count: int = 1) -> None:
        """Leave rows empty."""
        self.rows += count

    def add_row(self, cells: Iterable[tuple[Any, int]]) -> None:
        """A row of (value, style) pairs; str values are text cells, numbers numbers, None no cell."""
        self.rows += 1
        parts = []
        count = 0
        for index, (value, style) in enumerate(cells):
            count = index + 1
            if value is None:
                continue
            ref = f'<c r="{column_letter(index)}{self.rows}" s="{style}"'
            if isinstance(value, str):
                parts.append(f'{ref} t="inlineStr"><is>{_text(value)}</is></c>')
            else:
                parts.append(f"{ref}><v>{value!r}</v></c>")
        self.max_columns = max(self.max_columns, count)
        self._buffer.append(f'<row r="{self.rows}">{"".join(parts)}</row>')

    def add_rendered(self, rendered: str, columns: int) -> None:
        """A row rendered by ``Renderer.render`` (over ``columns`` columns)."""
        self.rows += 1
        number = str(self.rows)
        self._buffer.append('<row r="' + number + '">' + rendered.replace(_ROW, number) + "</row>")
        self.max_columns = max(self.max_columns, columns)
        if len(self._buffer) >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._file.write("".join(self._buffer).encode("utf-8"))
            self._buffer.clear()

    def _head(self) -> str:
        last = f"{column_letter(max(self.max_columns, 1) - 1)}{max(self.rows, 1)}"
        view = '<sheetView tabSelected="1" workbookViewId="0"' if self.selected else '<sheetView workbookViewId="0"'
        if self.freeze_rows:
            view += (f'><pane ySplit="{self.freeze_rows}" topLeftCell="A{self.freeze_rows + 1}" activePane="bottomLeft"'
                     ' state="frozen"/><selection pane="bottomLeft"/></sheetView>')
        else:
            view += "/>"
        cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{_excel_width(w)}" customWidth="1"/>'
                       for i, w in enumerate(self.widths))
        return (f'{_XML_HEAD}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><dimension ref="A1:{last}"/>'
                f'<sheetViews>{view}</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
                f'{"<cols>" + cols + "</cols>" if cols else ""}<sheetData>')

    def write_to(self, book: zipfile.ZipFile, part: str) -> None:
        self._flush()
        size = self._file.tell()
        self._file.seek(0)
        with book.open(part, "w", force_zip64=size > 2**30) as out:
            out.write(self._head().encode("utf-8"))
            shutil.copyfileobj(self._file, out, 1 << 20)
            out.write(b'</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3"'
                      b' footer="0.3"/></worksheet>')

    def discard(self) -> None:
        self._file.close()


def _excel_width(width: float) -> float:
    # Excel stores a column width in characters plus padding, as xlsxwriter does for set_column.
    return int((width * 7 + 5) / 7 * 256) / 256 if width > 1 else width


class Workbook:
    """Sheets written row by row; ``close`` writes the XLSX to ``target`` (a path or a binary file)."""

    def __init__(self, target: str | BinaryIO, *, compresslevel: int = 1):
        self.target = target
        self.compresslevel = compresslevel
        self.sheets: list[Sheet] = []

    def add_sheet(self, name: str, *, widths: Sequence[float] = (), freeze_rows: int = 0) -> Sheet:
        """A new sheet; ``freeze_rows`` rows stay visible when scrolling."""
        sheet = Sheet(name, widths, freeze_rows, selected=not self.sheets)
        self.sheets.append(sheet)
        return sheet

    def close(self) -> None:
        try:
            with zipfile.ZipFile(self.target, "w", zipfile.ZIP_DEFLATED, compresslevel=self.compresslevel) as book:
                count = len(self.sheets)
                overrides = "".join(
                    f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                    f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, count + 1))
                book.writestr("[Content_Types].xml", (
                    f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                    '<Default Extension="xml" ContentType="application/xml"/>'
                    '<Override PartName="/xl/styles.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                    '<Override PartName="/xl/workbook.xml" ContentType="application/'
                    f'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>'))
                book.writestr("_rels/.rels", (
                    f'{_XML_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
                    '</Relationships>'))
                rels = "".join(f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                               for i in range(1, count + 1))
                book.writestr("xl/_rels/workbook.xml.rels", (
                    f'{_XML_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    f'{rels}<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
                    '</Relationships>'))
                sheets = "".join(f'<sheet name="{escape(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
                                 for i, s in enumerate(self.sheets, 1))
                book.writestr("xl/workbook.xml", (
                    f'{_XML_HEAD}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                    '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" windowHeight="9660"/>'
                    f'</bookViews><sheets>{sheets}</sheets><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'))
                book.writestr("xl/styles.xml", STYLES_XML)
                for i, sheet in enumerate(self.sheets, 1):
                    sheet.write_to(book, f"xl/worksheets/sheet{i}.xml")
        finally:
            for sheet in self.sheets:
                sheet.discard()
