"""Writing Moodle XML: one ``<question>`` element per expressible question, a category per topic,
images attached as base64 ``<file>`` elements (see the package docstring)."""

from __future__ import annotations

import base64
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from urllib.parse import quote

from app.domain.questions import Issue
from app.formats.moodle_xml.html_text import text_to_html
from app.formats.moodle_xml.limits import NAME
from app.formats.moodle_xml.shared import loc, number_text
from app.formats.registry import ExportResult


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

