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

Layout: ``limits`` (the format name and the size limits), ``shared`` (key/id, number, location
and image helpers shared with gift.py and excel.py), ``html_text`` (HTML ↔ the bank's text, also
shared), ``xml_safe`` (safe XML loading), ``parse`` (the question readers and the importer) and
``write`` (the exporter). This package re-exports their public names and registers the importer
and the exporter; the limits are read through the package, so setting ``moodle_xml.MAX_...``
changes them everywhere.
"""

from __future__ import annotations

from app.formats.moodle_xml.html_text import ImageResolver, html_to_text, text_to_html
from app.formats.moodle_xml.limits import (
    MAX_ANSWERS,
    MAX_ISSUES,
    MAX_MARKUP_TAGS,
    MAX_QUESTIONS,
    MAX_XML_BYTES,
    MAX_XML_DEPTH,
    MAX_XML_ELEMENTS,
    MAX_XML_TAGS,
    NAME,
)
from app.formats.moodle_xml.parse import MoodleXmlImporter, category_path
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
    markdown_images,
    number_text,
    option_id,
    option_ids,
    points_value,
    put_blank,
    relocate,
    replace_images,
    slug,
    subject_from_name,
    subject_issue,
    too_many,
)
from app.formats.moodle_xml.write import MoodleXmlExporter, unexpressible
from app.formats.moodle_xml.xml_safe import read_xml
from app.formats.registry import register_exporter, register_importer

__all__ = [
    "MAX_ANSWERS", "MAX_ISSUES", "MAX_MARKUP_TAGS", "MAX_QUESTIONS", "MAX_XML_BYTES", "MAX_XML_DEPTH",
    "MAX_XML_ELEMENTS", "MAX_XML_TAGS", "NAME", "ImageResolver", "ImageStore", "Keys", "MarkupBudget",
    "MoodleXmlExporter", "MoodleXmlImporter", "accept", "at_line", "category_path", "finish",
    "finite_number", "html_to_text", "loc", "make_key", "markdown_images", "number_text", "option_id",
    "option_ids", "points_value", "put_blank", "read_xml", "relocate", "replace_images", "slug",
    "subject_from_name", "subject_issue", "text_to_html", "too_many", "unexpressible",
]

register_importer(MoodleXmlImporter())
register_exporter(MoodleXmlExporter())
