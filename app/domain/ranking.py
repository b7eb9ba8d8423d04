"""Standings of one exam: overall, per league (盟市) and per school, with percentiles.

The ordering rule and the rank style are stated once, in ``rank``; exports, pages and selection
read the ranks it returns and never re-sort.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, repeat
from operator import attrgetter, eq, mul, not_, or_
from typing import NamedTuple

__all__ = [
    "RANKED_STATUS", "RANK_STYLE_LABEL", "Entry", "RankedRow", "gc_paused", "order_key", "parse_tie_breaks",
    "percentile", "rank",
]

# How exports name the rank style (Chinese first). Not dense ranking (1, 1, 2), which Chinese
# spreadsheets call 中国式排名.
RANK_STYLE_LABEL = ("并列名次，后续名次顺延", "ties share a rank; the next rank skips (1, 2, 2, 4)")

RANKED_STATUS = "finalized"


@dataclass(frozen=True)
class Entry:
    """One attempt to be ranked, with the fields the tie-break chain may read."""

    attempt_id: Hashable
    total: float
    league_code: str | None = None
    school_id: Hashable | None = None
    sections: Mapping[str, float] = field(default_factory=dict)  # section name -> subtotal
    wrong_count: int = 0
    time_used_seconds: float = 0
    status: str = RANKED_STATUS  # finalized, voided, absent or in_progress


class RankedRow(NamedTuple):
    """An entry with its ranks; every rank is None for an attempt that is not ranked.

    A NamedTuple rather than a frozen dataclass: it is just as immutable, and building 100,000 of
    them is several times faster, which is most of the time of ranking a national exam.
    """

    entry: Entry
    rank: int | None
    league_rank: int | None
    school_rank: int | None
    count: int  # attempts ranked overall
    league_count: int  # attempts ranked in this row's league (0 without a league)
    school_count: int  # attempts ranked in this row's school (0 without a school)
    tied: bool  # shares its overall rank with another attempt (shown as 并列)
    key: tuple = ()  # the ordering key; equal keys are tied

    # Percentiles are derived on access: most pages read a handful, not 300,000.
    @property
    def percentile(self) -> float | None:
        return None if self.rank is None else percentile(self.rank, self.count)

    @property
    def league_percentile(self) -> float | None:
        return None if self.league_rank is None else percentile(self.league_rank, self.league_count)

    @property
    def school_percentile(self) -> float | None:
        return None if self.school_rank is None else percentile(self.school_rank, self.school_count)

    @property
    def attempt_id(self) -> Hashable:
        return self.entry.attempt_id

    @property
    def total(self) -> float:
        return self.entry.total

    @property
    def league_code(self) -> str | None:
        return self.entry.league_code

    @property
    def school_id(self) -> Hashable | None:
        return self.entry.school_id

    @property
    def status(self) -> str:
        return self.entry.status

    @property
    def ranked(self) -> bool:
        return self.rank is not None


def _cents(value: float) -> int:
    # Totals and subtotals are sums of 2-decimal points, so value*100 is within float noise of an
    # integer; comparing integers makes 0.1 + 0.2 tie with 0.3.
    return round(value * 100)


def parse_tie_breaks(tie_breaks: Iterable[str]) -> list[Callable[[Entry], object]]:
    """Turn a tie-break chain into key functions, smaller is better; unknown items raise ValueError.

    Items: ``section:<name>`` (the named section's subtotal, higher first; a missing subtotal
    counts as 0), ``fewer_wrong`` (fewer answered-but-wrong questions first) and ``less_time``
    (less time used first, compared as given).
    """
    functions: list[Callable[[Entry], object]] = []
    for item in tie_breaks:
        if item == "fewer_wrong":
            functions.append(attrgetter("wrong_count"))
        elif item == "less_time":
            functions.append(attrgetter("time_used_seconds"))
        elif isinstance(item, str) and item.startswith("section:") and item[len("section:"):]:
            name = item[len("section:"):]
            functions.append(lambda entry, name=name: -_cents(entry.sections.get(name, 0)))
        else:
            raise ValueError(f"unknown tie-break {item!r}; "
                             "use 'section:<name>', 'fewer_wrong' or 'less_time'")
    return functions


def _keys(entries: Sequence[Entry], functions: Sequence[Callable[[Entry], object]]) -> list[tuple]:
    # Built column by column and zipped: on 100,000 rows this is several times faster than a
    # Python function building each key.
    columns = [[-round(entry.total * 100) for entry in entries]]
    columns.extend(list(map(function, entries)) for function in functions)
    return list(zip(*columns))


def order_key(entry: Entry, tie_breaks: Sequence[str] = ()) -> tuple:
    """Return the ordering key of one entry under a tie-break chain; smaller keys rank higher."""
    return _keys([entry], parse_tie_breaks(tie_breaks))[0]


def percentile(rank: int, count: int) -> float:
    """Return the percentile of a rank among ``count`` ranked attempts.

    Definition: the percentage of the *other* ranked attempts that are not strictly ahead, i.e.
    ``100 × (count − rank) / (count − 1)``, rounded half up to 0.01; 100 when ``count`` is 1. The
    top is 100, a sole last place is 0, and tied attempts share a percentile because they share a
    rank. Computed in integers, so it has no float noise.
    """
    if count <= 1:
        return 100.0
    hundredths = (2 * 10000 * (count - rank) + (count - 1)) // (2 * (count - 1))
    return hundredths / 100


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a block that builds hundreds of thousands of objects.

    Ranking a national exam allocates ~10 objects per attempt and frees none of them; every 700
    allocations the collector would walk the young objects, and now and then all of them, for
    nothing (a quarter of rank()'s time). Nothing here makes reference cycles; reference counting
    still frees everything at once. Nested use is fine; the previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rank(entries: Iterable[Entry], tie_breaks: Sequence[str]) -> list[RankedRow]:
    functions = parse_tie_breaks(tie_breaks)
    entries = list(entries)
    candidates = [entry for entry in entries if entry.status == RANKED_STATUS]
    unsorted_keys = _keys(candidates, functions)
    order = sorted(range(len(candidates)), key=unsorted_keys.__getitem__)  # stable: ties keep input order
    ranked = [candidates[i] for i in order]
    keys = [unsorted_keys[i] for i in order]
    count = len(ranked)

    # Overall, without a Python loop: a row whose key differs from the previous row's starts a new
    # rank (its 1-based position); the others keep the running maximum, i.e. their group's first
    # position. Tied: the key equals the previous or the next row's key.
    same = list(map(eq, keys[1:], keys[:-1]))  # same[i]: rows i and i + 1 tie
    overall = list(accumulate(map(mul, map(not_, [False, *same]), range(1, count + 1)), max))
    tied = list(map(or_, [False, *same], [*same, False])) if count else []
    leagues = [entry.league_code for entry in ranked]
    schools = [entry.school_id for entry in ranked]
    league_sizes, school_sizes = Counter(leagues), Counter(schools)
    league_sizes.pop(None, None)
    school_sizes.pop(None, None)

    # tuple.__new__ over zipped columns builds the rows without a Python call per row.
    rows = list(map(_make_row, zip(
        ranked, overall, _competition_ranks(keys, leagues), _competition_ranks(keys, schools),
        repeat(count, count), map(league_sizes.get, leagues, repeat(0, count)),
        map(school_sizes.get, schools, repeat(0, count)), tied, keys,
    )))
    rows.extend(RankedRow(entry, None, None, None, count, 0, 0, False)
                for entry in entries if entry.status != RANKED_STATUS)
    return rows


def rank(entries: Iterable[Entry], tie_breaks: Sequence[str] = ()) -> list[RankedRow]:
    """Rank finalized attempts overall, per league and per school.

    Order: total score descending, then the declared tie-break chain in order (see
    parse_tie_breaks); with no tie-break (the default) equal totals tie. Scores are compared to
    the cent. Rank style: standard competition ranking, 并列名次，后续名次顺延 — an attempt's rank
    is 1 + the number of attempts strictly ahead of it, so ties share a rank and the next rank
    skips (1, 2, 2, 4). This is *not* dense ranking (1, 1, 2), which Chinese spreadsheets call
    中国式排名. League and school ranks apply the same rule within the league or school; an
    attempt with no league (or school) has no rank there. Percentiles follow ``percentile``.
    Only finalized attempts are ranked: voided, absent and unfinished ones come after all ranked
    rows, in input order, with every rank None. Ranked rows come in rank order; tied rows keep
    their input order.
    """
    with gc_paused():
        return _rank(entries, tie_breaks)


def _competition_ranks(keys: Sequence[tuple], groups: Sequence[Hashable | None]) -> list[int | None]:
    # One pass over the sorted keys. Each group keeps [members seen, last key, last rank]: a member
    # whose key equals its group's previous key shares that rank, otherwise its rank is the number
    # of members seen so far. Group None gets no rank.
    state: dict[Hashable, list] = {}
    ranks: list[int | None] = []
    append = ranks.append
    for key, group in zip(keys, groups):
        if group is None:
            append(None)
            continue
        current = state.get(group)
        if current is None:
            state[group] = [1, key, 1]
            append(1)
        else:
            current[0] += 1
            if current[1] != key:
                current[1] = key
                current[2] = current[0]
            append(current[2])
    return ranks


_make_row = partial(tuple.__new__, RankedRow)
