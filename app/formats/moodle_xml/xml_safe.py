"""Safe XML loading for Moodle XML files: size and tag counts first, then defusedxml with DTDs
and entities forbidden, a depth and element limit while parsing, and the line of each question."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from app.domain.questions import Issue
from app.formats import moodle_xml
from app.formats.moodle_xml.shared import at_line

# The limits are read from the package at call time (``moodle_xml.MAX_...``), so that setting
# ``app.formats.moodle_xml.MAX_...`` (as the tests do) takes effect here too.


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
        if self.depth > moodle_xml.MAX_XML_DEPTH:
            raise _TooBig("depth")
        self.count += 1
        if self.count > moodle_xml.MAX_XML_ELEMENTS:
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
    if len(data) > moodle_xml.MAX_XML_BYTES:
        return None, {}, Issue(fname, "xml.too_large",
                               f"文件过大：{len(data) / 1e6:.1f} MB，上限 {moodle_xml.MAX_XML_BYTES // 1_000_000} MB",
                               f"file too large: {len(data) / 1e6:.1f} MB, the limit is "
                               f"{moodle_xml.MAX_XML_BYTES // 1_000_000} MB")
    tags = data.count(b"<")
    if tags > moodle_xml.MAX_XML_TAGS:
        return None, {}, Issue(fname, "xml.too_many_elements",
                               f"XML 标签过多（{tags:,} 个，上限 {moodle_xml.MAX_XML_TAGS:,}）：请把题库拆成几个文件",
                               f"too many XML tags ({tags:,}, at most {moodle_xml.MAX_XML_TAGS:,}): split the bank into "
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
            return None, {}, Issue(where, "xml.too_deep", f"XML 嵌套超过 {moodle_xml.MAX_XML_DEPTH} 层，不是 Moodle 题库",
                                   f"XML nested deeper than {moodle_xml.MAX_XML_DEPTH} levels: not a Moodle question file")
        return None, {}, Issue(where, "xml.too_many_elements",
                               f"XML 元素超过 {moodle_xml.MAX_XML_ELEMENTS:,} 个：请把题库拆成几个文件",
                               f"more than {moodle_xml.MAX_XML_ELEMENTS:,} XML elements: split the bank into several files")
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        reason = str(exc).split(":")[0]
        if "entity" in reason:
            return None, {}, _entity_issue(at_line(fname, line))
        return None, {}, Issue(at_line(fname, line), "xml.malformed", f"XML 格式错误：{reason}",
                               f"malformed XML: {reason}")
    return root, builder.lines, None

