"""An exam's paper before and after publication, shown to its authors as a student would see it.

A draft has no pinned questions yet, so its preview draws them here the way publication will: the
same approved pool, the same blueprint cells and question check, the same per-section seeds and the
same points rule; nothing is pinned or written. With an unchanged bank the preview of a draft is
therefore exactly the paper that publishing pins. A published exam's preview is its pinned paper.

The draw and the pool come from ``exam_authoring`` (its ``_pool``, ``_cell`` and
``_check_questions``) so that this module cannot drift from ``publish``; they are private names
there today and ought to become public ones.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import richtext, shuffle
from app.models import Exam, Question
from app.services import attempts, exam_authoring, papers
from app.services.exam_authoring import ExamSpecError, SectionSpec


def exam_sections(exam: Exam) -> list[SectionSpec]:
    """The exam's stored sections in the shape the authoring checks take."""
    return [SectionSpec(s.name, s.policy, dict(s.policy_params or {}), s.points_per_question,
                        list(s.fixed_keys), list(s.blueprint)) for s in exam.sections]


def draw_keys(session: Session, subject: str, sections: Sequence[SectionSpec], seed: str) -> list[list[str]]:
    """The question keys of each section as publication would pin them with this exam seed.

    Fixed questions come first, then each blueprint is drawn from the approved pool minus the fixed
    questions and the earlier sections' draws, with the seed ``"<seed>:<section position>"``.
    Raises ExamSpecError (located, per cell) when a question is missing or a blueprint cannot be met.
    """
    issues = exam_authoring._check_questions(session, subject, list(sections))
    if issues:
        raise ExamSpecError(issues)
    used = {key for section in sections for key in section.fixed_keys}
    pool = [item for item in exam_authoring._pool(session, subject) if item.key not in used]
    keys_by_section = []
    for position, section in enumerate(sections, 1):
        keys = list(section.fixed_keys)
        if section.blueprint:
            drawn = shuffle.blueprint_draw(pool, [exam_authoring._cell(c) for c in section.blueprint],
                                           f"{seed}:{position}")
            keys += drawn
            taken = set(drawn)
            pool = [item for item in pool if item.key not in taken]
        keys_by_section.append(keys)
    return keys_by_section


def _points(content: dict[str, Any], question: Question, points_per_question: float | None) -> float:
    # The rule of exam_authoring.publish: a group scores its parts; otherwise the section's points
    # per question, else the version's own points.
    if content["type"] == "group":
        return sum(float(p["points"]) for p in content["parts"])
    if points_per_question:
        return float(points_per_question)
    return float(content.get("points", question.points))


def draft_paper(session: Session, exam: Exam) -> papers.Paper:
    """A draft's paper, drawn as publication would draw it, with approved versions; nothing is written."""
    specs = exam_sections(exam)
    keys_by_section = draw_keys(session, exam.subject_code, specs, exam.seed)
    wanted = {key for keys in keys_by_section for key in keys}
    by_key = {q.key: q for q in session.scalars(select(Question).where(
        Question.subject_code == exam.subject_code, Question.key.in_(wanted or [""])))}
    sections, questions, next_id = [], {}, 1
    for position, (section, keys) in enumerate(zip(exam.sections, keys_by_section, strict=True), 1):
        ids = []
        for number, key in enumerate(keys, 1):
            question = by_key[key]
            version = question.approved_version
            questions[next_id] = papers.PaperQuestion(
                next_id, position, number, question.id, version.id,
                _points(version.content, question, section.points_per_question), version.content,
                dict(version.images or {}))
            ids.append(next_id)
            next_id += 1
        sections.append(papers.PaperSection(position, position, section.name, section.policy,
                                            dict(section.policy_params or {}), tuple(ids)))
    return papers.Paper(0, 0, tuple(sections), questions)


def paper_of(session: Session, exam: Exam) -> papers.Paper:
    """The paper to preview: pinned for a published exam, drawn without pinning for a draft."""
    return draft_paper(session, exam) if exam.state == "draft" else papers.load(session, exam)


@dataclass(frozen=True)
class PreviewSitting:
    """What ``attempts.student_sections`` reads of an attempt, for a sitting that is never stored."""

    exam: Exam
    seed: str
    layout: list[list[int]]


def student_sections(exam: Exam, paper: papers.Paper, seed: str) -> list[dict[str, Any]]:
    """The paper as a student with this attempt seed sees it: same question order, option order and
    rendering as the exam page (the same functions), with no answers saved."""
    # attempts._layout is the rule the start of an attempt applies (shuffle.section_order per section).
    sitting = PreviewSitting(exam, seed, attempts._layout(exam, paper, seed))
    return attempts.student_sections(sitting, paper, {})


def _inline(text: Any, image_url) -> Markup:
    return Markup(richtext.render_inline(str(text), image_url=image_url))


def _answer_lines(content: dict[str, Any], view: dict[str, Any], seed: str, image_url,
                  words: tuple[str, str]) -> list[Markup]:
    """The key of one question in the letters and order this student sees (staff only)."""
    key, qtype, answer = content["key"], content["type"], content.get("answer")
    label_of = {o["id"]: o["label"] for o in view.get("options", []) + view.get("choices", [])}

    def label(cid: str) -> str:
        return label_of.get(shuffle.opaque_id(seed, key, cid), cid)

    if qtype == "single":
        return [escape(label(answer))]
    if qtype == "multiple":
        return [escape("".join(sorted(label(c) for c in answer)))]
    if qtype == "true_false":
        return [escape(words[0] if answer else words[1])]
    if qtype == "ordering":
        texts = {i["id"]: i["text"] for i in content["items"]}
        return [Markup("{}. {}").format(n, _inline(texts[c], image_url)) for n, c in enumerate(answer, 1)]
    if qtype == "matching":
        prompts = {p["id"]: p["text"] for p in content["prompts"]}
        return [Markup("{} → {}").format(_inline(prompts[p], image_url), label(c)) for p, c in answer.items()]
    if qtype == "fill_blank":
        lines = []
        for n, blank in enumerate(content.get("blanks", []), 1):
            if blank.get("numeric"):
                num = blank["numeric"]
                text = f"{float(num['value']):g}"
                if num.get("tolerance"):
                    text += f" ± {num['tolerance']:g}"
                if num.get("rel_tolerance"):
                    text += f" ± {num['rel_tolerance']:.2%}"
            else:
                text = " ; ".join(str(a) for a in blank.get("answers", []))
            lines.append(Markup("（{}）{} {}").format(n, text, blank.get("unit") or ""))
        return lines
    if qtype == "short_answer":
        return [Markup(richtext.render(str(content.get(name) or ""), image_url=image_url))
                for name in ("reference_answer", "rubric") if content.get(name)]
    if qtype == "group":
        lines = []
        parts = zip(content.get("parts", []), view.get("parts", []), strict=False)
        for n, (part, part_view) in enumerate(parts, 1):
            lines += [Markup("({}) {}").format(n, line)
                      for line in _answer_lines(part, part_view, seed, image_url, words)]
        return lines
    return []


def staff_answers(paper: papers.Paper, sections: list[dict[str, Any]], seed: str,
                  words: tuple[str, str] = ("正确", "错误")) -> dict[int, dict[str, Any]]:
    """Per paper question id: the key (in the displayed letters) and the explanation, for the staff tab.

    ``words`` are the reader's words for true and false.
    """
    result = {}
    for section in sections:
        for view in section["questions"]:
            q = paper.questions[view["id"]]
            image_url = attempts.image_url_for(q.images)
            result[q.id] = {
                "lines": _answer_lines(q.content, view, seed, image_url, words),
                "explanation_html": Markup(richtext.render(str(q.content.get("explanation") or ""),
                                                           image_url=image_url)),
            }
    return result


