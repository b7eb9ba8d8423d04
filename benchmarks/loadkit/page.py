"""Reading the exam page as the browser does: the questions, their opaque option ids, and answers to them.

The exam page (templates/exam/take.html) renders every question with the student's own opaque ids;
exam.js reads the answer from the inputs and sends it with those ids. The simulated student parses
the same HTML and builds the same JSON shapes (app/domain/presentation.py lists them).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class PageQuestion:
    """One question (or part of a group) as rendered."""

    qtype: str
    token: str
    options: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    blanks: int = 0
    parts: list[PageQuestion] = field(default_factory=list)


class _ExamPage(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.questions: dict[int, PageQuestion] = {}
        self.order: list[int] = []
        self._slot: int | None = None
        self._depth = 0
        self._stack: list[tuple[int, PageQuestion]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and "data-qid" in a:
            self._slot = int(a["data-qid"] or 0)
            self.order.append(self._slot)
        if tag == "div":
            self._depth += 1
            if "data-type" in a and "question" in (a.get("class") or "").split():
                q = PageQuestion(a["data-type"] or "", a.get("data-qtoken") or "")
                if self._stack:
                    self._stack[-1][1].parts.append(q)
                elif self._slot is not None:
                    self.questions[self._slot] = q
                self._stack.append((self._depth, q))
            return
        if not self._stack:
            return
        q = self._stack[-1][1]
        if tag == "input" and "data-answer" in a:
            if "data-blank" in a:
                q.blanks += 1
            elif a.get("type") in ("radio", "checkbox") and q.qtype in ("single", "multiple"):
                q.options.append(a.get("value") or "")
        elif tag == "li" and "data-id" in a:
            q.items.append(a["data-id"] or "")
        elif tag == "select" and "data-prompt" in a:
            q.prompts.append(a["data-prompt"] or "")
        elif tag == "option" and a.get("value") and q.qtype == "matching" and a["value"] not in q.choices:
            q.choices.append(a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self._stack and self._stack[-1][0] == self._depth:
                self._stack.pop()
            self._depth -= 1
        elif tag == "section":
            self._slot = None


def parse_exam_page(html: str) -> tuple[list[int], dict[int, PageQuestion]]:
    """The question ids in the page's order and each question's inputs."""
    parser = _ExamPage()
    parser.feed(html)
    return parser.order, parser.questions


ESSAY = "惯性是物体保持原有运动状态的性质，质量是惯性大小的量度。" * 4


def make_answer(q: PageQuestion, rng: random.Random) -> Any:
    """A well-formed answer in the page's JSON shape (right or wrong does not matter here)."""
    t = q.qtype
    if t == "single":
        return rng.choice(q.options)
    if t == "multiple":
        return sorted(rng.sample(q.options, rng.randint(1, len(q.options))))
    if t == "true_false":
        return rng.random() < 0.5
    if t == "fill_blank":
        return [rng.choice(["9.8", "19.6", "3.0×10^8", "不会"]) for _ in range(q.blanks)]
    if t == "ordering":
        items = list(q.items)
        rng.shuffle(items)
        return items
    if t == "matching":
        return {p: rng.choice(q.choices) for p in q.prompts}
    if t == "short_answer":
        return ESSAY[: rng.randint(20, len(ESSAY))]
    if t == "group":
        return {part.token: make_answer(part, rng) for part in q.parts}
    raise ValueError(f"unknown question type {t}")
