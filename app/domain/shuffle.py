"""Reproducible shuffles, opaque option ids and blueprint draws, all from stored seeds.

Every random choice here comes from ``random.Random`` seeded with a SHA-256 of the stored seed and
a context (never Python's ``hash()``, which changes per process), and the shuffle itself is our own
Fisher–Yates over ``getrandbits``, whose output for a given seed Python keeps stable. So the same
seed gives the same order on every worker and after every restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "BlueprintCell", "BlueprintError", "CellProblem", "PoolItem", "blueprint_availability",
    "blueprint_draw", "build_opaque_map", "opaque_id", "option_order", "ordering_display",
    "section_order",
]


def _rng(seed: str, *context: object) -> random.Random:
    # JSON keeps the parts apart: ("ab", "c") and ("a", "bc") give different seeds.
    material = json.dumps([seed, *context], ensure_ascii=False, separators=(",", ":"))
    return random.Random(int.from_bytes(hashlib.sha256(material.encode()).digest(), "big"))


def _shuffled(rng: random.Random, items: Iterable) -> list:
    result = list(items)
    for i in range(len(result) - 1, 0, -1):
        j = _below(rng, i + 1)
        result[i], result[j] = result[j], result[i]
    return result


def _below(rng: random.Random, n: int) -> int:
    # Uniform in [0, n) by rejection sampling on getrandbits.
    bits = n.bit_length()
    while True:
        value = rng.getrandbits(bits)
        if value < n:
            return value


def section_order(seed: str, section_index: int, question_keys: Sequence[str]) -> list[str]:
    """Return one student's order of the questions of one section.

    Rule: a Fisher–Yates shuffle of ``question_keys`` driven by SHA-256(seed, "section", index),
    so the same attempt seed always gives the same order and different sections shuffle apart.
    """
    return _shuffled(_rng(seed, "section", section_index), question_keys)


def option_order(seed: str, question_key: str, option_ids: Sequence[str]) -> list[str]:
    """Return one student's display order of a question's options (SHA-256(seed, "options", key))."""
    return _shuffled(_rng(seed, "options", question_key), option_ids)


def ordering_display(seed: str, key: str, item_ids: Sequence[str], answer: Sequence[str]) -> list[str]:
    """Return the order in which an ordering question's items are shown to one student.

    Rule: a seeded shuffle, which must never show the correct order (``answer``) when there are two
    or more items, or the student could submit it untouched. If a draw equals the answer the
    shuffle is drawn again with the next context (deterministically, up to 8 times); if it still
    equals the answer it is rotated by one, which always changes a list of two or more distinct
    items.
    """
    items = list(item_ids)
    if len(set(items)) != len(items) or sorted(items) != sorted(answer):
        raise ValueError(f"ordering question {key!r}: the answer must list every item exactly once")
    if len(items) < 2:
        return items
    wanted = list(answer)
    for attempt in range(8):
        order = _shuffled(_rng(seed, "ordering", key, attempt), items)
        if order != wanted:
            return order
    return order[1:] + order[:1]


def opaque_id(secret_seed: str, question_key: str, option_id: str) -> str:
    """Return the token that stands for an option in one student's page.

    Rule: the first 10 characters of the lower-case base32 of HMAC-SHA256(secret_seed,
    [question_key, option_id]). The page never shows canonical ids, so two students cannot
    compare "the answer is b"; the server maps tokens back with build_opaque_map.
    """
    message = json.dumps([question_key, option_id], ensure_ascii=False, separators=(",", ":")).encode()
    digest = hmac.new(secret_seed.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:10].lower()


def build_opaque_map(seed: str, question_key: str, ids: Iterable[str]) -> dict[str, str]:
    """Return {opaque token: canonical id} for one question's ids: the inverse of opaque_id."""
    mapping: dict[str, str] = {}
    for canonical in ids:
        token = opaque_id(seed, question_key, canonical)
        if mapping.get(token, canonical) != canonical:
            raise ValueError(f"question {question_key!r}: opaque ids collide; use another seed")
        mapping[token] = canonical
    return mapping


# --- blueprint draws ---------------------------------------------------------------------------

TYPE_NAMES_ZH = {
    "single": "单选题", "multiple": "多选题", "true_false": "判断题", "fill_blank": "填空题",
    "ordering": "排序题", "matching": "匹配题", "short_answer": "简答题", "group": "材料题",
}


@dataclass(frozen=True)
class PoolItem:
    """A question a blueprint may draw."""

    key: str
    type: str
    difficulty: float | None
    knowledge_points: tuple[str, ...] = ()


@dataclass(frozen=True)
class BlueprintCell:
    """One line of a blueprint: ``count`` questions of a type, difficulty band and knowledge point."""

    type: str
    difficulty: tuple[float, float]  # inclusive band (lo, hi)
    knowledge_prefix: str | None
    count: int

    def matches(self, item: PoolItem) -> bool:
        """A question fits a cell when its type is the cell's, its difficulty is within the band
        (inclusive) and, if the cell names a knowledge point, one of its knowledge points is that
        point or below it in the tree (``力学/运动学`` covers ``力学/运动学/匀变速`` but not
        ``力学/运动学史``)."""
        lo, hi = self.difficulty
        if item.type != self.type or item.difficulty is None or not lo <= item.difficulty <= hi:
            return False
        if not self.knowledge_prefix:
            return True
        prefix = self.knowledge_prefix.rstrip("/")
        return any(point == prefix or point.startswith(prefix + "/") for point in item.knowledge_points)

    def describe(self) -> tuple[str, str]:
        """Return the cell in words, (Chinese, English), for error messages and pages."""
        lo, hi = self.difficulty
        kind, point = TYPE_NAMES_ZH.get(self.type, self.type), self.knowledge_prefix
        return (f"{kind}，难度 {lo:g}–{hi:g}，知识点 {point or '不限'}",
                f"{self.type}, difficulty {lo:g}–{hi:g}, knowledge point {point or 'any'}")


@dataclass(frozen=True)
class CellProblem:
    """Why one blueprint cell cannot be filled."""

    index: int  # 0-based
    requested: int
    available: int  # questions matching the cell, ignoring the other cells
    message_zh: str
    message_en: str


class BlueprintError(ValueError):
    """A blueprint the pool cannot satisfy; ``problems`` has a zh/en message per cell."""

    def __init__(self, problems: Sequence[CellProblem]):
        self.problems = list(problems)
        self.message_zh = "；".join(problem.message_zh for problem in self.problems)
        self.message_en = "; ".join(problem.message_en for problem in self.problems)
        super().__init__(f"{self.message_zh} / {self.message_en}")


def _as_item(item: PoolItem | Mapping) -> PoolItem:
    if isinstance(item, PoolItem):
        return item
    get = item.get if isinstance(item, Mapping) else lambda name, default=None: getattr(item, name, default)
    return PoolItem(get("key"), get("type"), get("difficulty"), tuple(get("knowledge_points", ()) or ()))


def _as_cell(cell: BlueprintCell | Sequence) -> BlueprintCell:
    if not isinstance(cell, BlueprintCell):
        cell = BlueprintCell(cell[0], tuple(cell[1]), cell[2], cell[3])
    lo, hi = cell.difficulty
    if isinstance(cell.count, bool) or not isinstance(cell.count, int) or cell.count < 0 or lo > hi:
        raise ValueError(f"bad blueprint cell {cell!r}: count must be ≥ 0 and lo ≤ hi")
    return cell


def blueprint_availability(pool: Iterable[PoolItem | Mapping],
                           cells: Iterable[BlueprintCell | Sequence]) -> list[int]:
    """Return, per cell, how many pool questions match it (each cell on its own, overlaps counted)."""
    items = [_as_item(item) for item in pool]
    return [sum(cell.matches(item) for item in items) for cell in map(_as_cell, cells)]


def blueprint_draw(pool: Iterable[PoolItem | Mapping], cells: Iterable[BlueprintCell | Sequence],
                   seed: str) -> list[str]:
    """Draw the questions of a blueprint from a pool, reproducibly from ``seed``.

    Rule: each cell gets exactly ``count`` questions matching it, and no question is drawn twice,
    even when cells overlap. The pool is shuffled by the seed and the cells are filled as a
    bipartite matching (augmenting paths), so a draw is found whenever one exists, not only when
    a greedy pass happens to work. Returns the keys, cell by cell, in the shuffled order. When no
    draw exists, raises BlueprintError naming each cell that cannot be filled, with how many
    questions it requests and how many are available.
    """
    items = sorted((_as_item(item) for item in pool), key=lambda item: item.key)
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError("the pool lists a question twice")
    cells = [_as_cell(cell) for cell in cells]
    shuffled = _shuffled(_rng(seed, "blueprint"), items)
    candidates = [[item.key for item in shuffled if cell.matches(item)] for cell in cells]
    owner: dict[Hashable, int] = {}
    next_free = [0] * len(cells)  # a drawn question stays drawn: the search for a free one only moves on

    def augment(cell: int, visited: set[int]) -> bool:
        # Give `cell` one more question, moving questions between other cells if needed.
        visited.add(cell)
        options = candidates[cell]
        while next_free[cell] < len(options) and options[next_free[cell]] in owner:
            next_free[cell] += 1
        if next_free[cell] < len(options):
            owner[options[next_free[cell]]] = cell
            return True
        for key in options:
            other = owner[key]
            if other != cell and other not in visited and augment(other, visited):
                owner[key] = cell  # `other` found a replacement, so this one moves over
                return True
        return False

    blocked: dict[int, set[int]] = {}  # cell -> the cells competing for the same questions
    for index, cell in enumerate(cells):
        for _ in range(cell.count):
            visited: set[int] = set()
            if not augment(index, visited):
                blocked[index] = visited
                break
    if blocked:
        raise BlueprintError(_problems(cells, candidates, blocked))
    position = {item.key: i for i, item in enumerate(shuffled)}
    drawn: list[list[str]] = [[] for _ in cells]
    for key, cell in owner.items():
        drawn[cell].append(key)
    return [key for keys_of_cell in drawn for key in sorted(keys_of_cell, key=position.__getitem__)]


def _problems(cells: Sequence[BlueprintCell], candidates: Sequence[Sequence[str]],
              blocked: Mapping[int, set[int]]) -> list[CellProblem]:
    problems = []
    for index, competing in sorted(blocked.items()):
        cell, available = cells[index], len(candidates[index])
        zh, en = cell.describe()
        if available < cell.count:
            problems.append(CellProblem(index, cell.count, available,
                                        f"第 {index + 1} 格（{zh}）需要 {cell.count} 题，题库中只有 {available} 题",
                                        f"cell {index + 1} ({en}) requests {cell.count} questions, "
                                        f"{available} available"))
            continue
        group = sorted(competing)
        requested = sum(cells[i].count for i in group)
        distinct = len({key for i in group for key in candidates[i]})
        names = "、".join(str(i + 1) for i in group)
        problems.append(CellProblem(
            index, cell.count, available,
            f"第 {index + 1} 格（{zh}）需要 {cell.count} 题，可用 {available} 题，但与第 {names} 格共用题目："
            f"这些格共需 {requested} 题，符合条件的不同题目只有 {distinct} 道",
            f"cell {index + 1} ({en}) requests {cell.count} questions and {available} match, but cells "
            f"{', '.join(str(i + 1) for i in group)} share them: together they request {requested}, "
            f"only {distinct} distinct questions match",
        ))
    return problems
