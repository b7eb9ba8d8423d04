"""Reading Moodle XML: the question readers (one per Moodle question type), categories and tags,
embedded images, and the importer (see the package docstring for the mapping)."""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from app.domain.questions import Issue, ParsedBank
from app.formats import moodle_xml
from app.formats.moodle_xml.html_text import html_to_text
from app.formats.moodle_xml.limits import NAME
from app.formats.moodle_xml.shared import (
    ImageStore,
    Keys,
    MarkupBudget,
    accept,
    at_line,
    finish,
    finite_number,
    loc,
    make_key,
    option_id,
    option_ids,
    points_value,
    put_blank,
    subject_from_name,
    subject_issue,
    too_many,
)
from app.formats.moodle_xml.xml_safe import read_xml

# The limits are read from the package at call time (``moodle_xml.MAX_...``), so that setting
# ``app.formats.moodle_xml.MAX_...`` (as the tests do) takes effect here too.


def _inner(el: ET.Element | None) -> str:
    """The content of ``<text>``: its text, or, when HTML was written unescaped (without CDATA)
    and so parsed as XML elements, that markup again."""
    if el is None:
        return ""
    if len(el) == 0:
        return el.text or ""
    return (el.text or "") + "".join(ET.tostring(child, encoding="unicode") for child in el)


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
        if len(elements) > moodle_xml.MAX_QUESTIONS:
            self.issues.append(too_many(self.fname, "题目", "questions", len(elements), moodle_xml.MAX_QUESTIONS))
            return
        for n, el in enumerate(elements, 1):
            if self.budget.left < 0:
                return
            if len(self.issues) >= moodle_xml.MAX_ISSUES:
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
        if handler is not None and parts > moodle_xml.MAX_ANSWERS:
            self.issues.append(too_many(where, "答案", "answers", parts, moodle_xml.MAX_ANSWERS))
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

