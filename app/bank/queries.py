"""Read-only queries of the bank pages: the filtered, paginated question list and its choices."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.domain.questions import QUESTION_TYPES
from app.models import QUESTION_STATES, Question, QuestionTag, Subject, User

PER_PAGE = 50


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; empty values mean "any"."""

    q: str = ""
    subject: str = ""
    type: str = ""
    kp: str = ""
    difficulty: int | None = None
    status: str = ""
    author: int | None = None
    page: int = 1

    @classmethod
    def from_args(cls, args) -> Filters:
        """Read the list's query string; unknown values are dropped rather than refused."""
        def text(name: str, limit: int = 200) -> str:
            return (args.get(name) or "").strip()[:limit]

        difficulty = args.get("difficulty", type=int)
        return cls(
            q=text("q"), subject=text("subject", 16),
            type=text("type", 16) if text("type", 16) in QUESTION_TYPES else "",
            kp=text("kp"), difficulty=difficulty if difficulty in range(1, 6) else None,
            status=text("status", 16) if text("status", 16) in QUESTION_STATES else "",
            author=args.get("author", type=int), page=max(1, args.get("page", 1, type=int) or 1))

    def args(self, **changes) -> dict:
        """The query string for this filter (with ``changes``), without empty values: for links."""
        values = {"q": self.q, "subject": self.subject, "type": self.type, "kp": self.kp,
                  "difficulty": self.difficulty, "status": self.status, "author": self.author,
                  "page": self.page, **changes}
        return {k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)}


@dataclass(frozen=True)
class Page:
    """One page of the list."""

    questions: list[Question]
    total: int
    page: int
    pages: int


def _filtered(filters: Filters, subjects: set[str] | None) -> Select:
    query = select(Question)
    if subjects is not None:
        query = query.where(Question.subject_code.in_(sorted(subjects)))
    if filters.subject:
        query = query.where(Question.subject_code == filters.subject)
    if filters.type:
        query = query.where(Question.type == filters.type)
    if filters.status:
        query = query.where(Question.status == filters.status)
    if filters.difficulty is not None:
        query = query.where(Question.difficulty == filters.difficulty)
    if filters.author is not None:
        query = query.where(Question.author_id == filters.author)
    if filters.q:
        query = query.where(Question.stem_plain.contains(filters.q, autoescape=True)
                            | Question.key.contains(filters.q, autoescape=True))
    if filters.kp:
        tagged = select(QuestionTag.question_id).where(QuestionTag.path.startswith(filters.kp, autoescape=True))
        query = query.where(Question.id.in_(tagged))
    return query


def search(session: Session, filters: Filters, *, subjects: set[str] | None) -> Page:
    """Questions matching ``filters`` within ``subjects`` (None: every subject), ``PER_PAGE`` a page.

    Search is a substring of the plain stem (or of the key); the knowledge point filter is a prefix
    of a tag path, so ``力学`` finds ``力学/运动学/抛体运动``.
    """
    query = _filtered(filters, subjects)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(filters.page, pages)
    rows = session.scalars(query.order_by(Question.subject_code, Question.topic, Question.key)
                           .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return Page(list(rows), total, page, pages)


def subjects_for(session: Session, user: User) -> list[Subject]:
    """The subjects a user works in, in display order: every subject for an admin."""
    if user.role == "admin":
        return list(session.scalars(select(Subject).order_by(Subject.position)))
    return list(user.subjects)


def authors(session: Session, subjects: set[str] | None) -> list[User]:
    """Everyone who authored a question in these subjects, for the author filter."""
    query = select(User).where(User.id.in_(select(Question.author_id).where(Question.author_id.is_not(None))))
    if subjects is not None:
        query = query.where(User.id.in_(select(Question.author_id).where(Question.subject_code.in_(sorted(subjects)))))
    return list(session.scalars(query.order_by(User.display_name)))


def by_ids(session: Session, ids: list[int]) -> list[Question]:
    """The questions with these ids (missing ids are simply absent)."""
    if not ids:
        return []
    return list(session.scalars(select(Question).where(Question.id.in_(ids)).order_by(Question.key)))
