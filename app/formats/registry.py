"""The registry of question-bank formats: importers and exporters looked up by name.

Each format module (native_yaml, moodle_xml, gift, excel) calls ``register_importer`` /
``register_exporter`` when it is imported; ``app.formats`` imports every format module that exists,
so importing anything from this package fills the registry.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Protocol

from app.domain.questions import BankValidationError, Issue, ParsedBank

__all__ = [
    "EXPORTERS", "IMPORTERS", "ExportResult", "Exporter", "Importer", "importer_for_filename",
    "register_exporter", "register_importer",
]


class Importer(Protocol):
    """Reads question files into a ParsedBank, checking everything and writing nothing.

    ``files`` maps relative paths to bytes: for YAML the .yaml files plus their ``images/`` files,
    for single-file formats one entry. ``subject``, when given, is the subject every question must
    belong to.
    """

    name: str
    extensions: tuple[str, ...]

    def parse(self, files: dict[str, bytes], *, subject: str | None) -> ParsedBank: ...


@dataclass
class ExportResult:
    """Files written by an exporter (relative path → bytes) and the questions it could not express,
    one Issue per question: nothing is dropped silently."""

    files: dict[str, bytes] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)


class Exporter(Protocol):
    """Writes canonical questions (and the images they reference) of one subject into files."""

    name: str

    def export(self, questions: list[dict], images: dict[str, bytes], *, subject: str) -> ExportResult: ...


IMPORTERS: dict[str, Importer] = {}
EXPORTERS: dict[str, Exporter] = {}

# What each extension means even when its format module is not installed (for a clear message).
_EXPECTED_FORMATS = {"yaml": "yaml", "yml": "yaml", "xml": "moodle-xml", "gift": "gift", "txt": "gift",
                     "xlsx": "xlsx"}


def register_importer(importer: Importer) -> Importer:
    """Add ``importer`` under its ``name`` (a later registration of the same name replaces it)."""
    IMPORTERS[importer.name] = importer
    return importer


def register_exporter(exporter: Exporter) -> Exporter:
    """Add ``exporter`` under its ``name`` (a later registration of the same name replaces it)."""
    EXPORTERS[exporter.name] = exporter
    return exporter


def _extension(name: str) -> str:
    return posixpath.splitext(name.replace("\\", "/").lower())[1].lstrip(".")


def importer_for_filename(name: str) -> Importer:
    """The importer for a file, chosen by its extension: .yaml/.yml → yaml, .xml → moodle-xml,
    .gift/.txt → gift, .xlsx → xlsx. Raises BankValidationError (located at ``name``) for an
    extension no format reads, or whose format is not installed."""
    extension = _extension(name)
    for importer in IMPORTERS.values():
        if extension and extension in (e.lower().lstrip(".") for e in importer.extensions):
            return importer
    expected = _EXPECTED_FORMATS.get(extension)
    if expected is not None:
        raise BankValidationError([Issue(
            name, "format.unavailable", f"此服务器未安装 {expected} 格式的导入功能",
            f"importing the {expected} format is not available on this server")])
    known = ", ".join(sorted({f".{e}" for e in _EXPECTED_FORMATS}))
    raise BankValidationError([Issue(
        name, "format.unknown", f"无法识别的文件类型“.{extension}”，可导入：{known}",
        f'unrecognised file type ".{extension}"; importable: {known}')])
