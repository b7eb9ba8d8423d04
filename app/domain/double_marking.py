"""双评: how the points of a manually graded answer are decided from its graders' marks.

Stated once, here, for the grading queue, rescoring and the score review alike.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["ARBITER", "FIRST", "REVIEW", "SECOND", "Outcome", "resolve"]

FIRST, SECOND, ARBITER, REVIEW = 1, 2, 3, 4

NEEDS_FIRST, NEEDS_SECOND, NEEDS_ARBITER, FINAL = "needs_first", "needs_second", "needs_arbiter", "final"


class Outcome(tuple):
    """(state, points): points is None until the state is ``final``."""

    __slots__ = ()

    def __new__(cls, state: str, points: float | None = None):
        return super().__new__(cls, (state, points))

    @property
    def state(self) -> str:
        return self[0]

    @property
    def points(self) -> float | None:
        return self[1]

    @property
    def final(self) -> bool:
        return self[0] == FINAL


def resolve(marks: Mapping[int, float], *, double: bool, threshold: float) -> Outcome:
    """Decide an answer's points from the marks given so far, by slot.

    Rules:
    - a score-review correction (slot 4, 成绩复核) overrides everything else;
    - single marking: the first grader's points are final;
    - double marking (双评): two graders mark independently (slots 1 and 2); if their points differ
      by at most ``threshold`` the answer gets their mean, rounded half up to 0.01; otherwise a
      third grader arbitrates (slot 3) and the arbiter's points are final.
    """
    if REVIEW in marks:
        return Outcome(FINAL, _cents(marks[REVIEW]))
    if FIRST not in marks:
        return Outcome(NEEDS_FIRST)
    if not double:
        return Outcome(FINAL, _cents(marks[FIRST]))
    if SECOND not in marks:
        return Outcome(NEEDS_SECOND)
    first, second = Decimal(str(marks[FIRST])), Decimal(str(marks[SECOND]))
    if abs(first - second) <= Decimal(str(threshold)):
        return Outcome(FINAL, _cents((first + second) / 2))
    if ARBITER not in marks:
        return Outcome(NEEDS_ARBITER)
    return Outcome(FINAL, _cents(marks[ARBITER]))


def _cents(value: object) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
