"""Selection (入围) of one subject's students by cut-off, quota and league quotas.

The whole rule is ``select``; a what-if preview is the same call with other rules. Every student
gets a decision saying what happened and why, in Chinese and English.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.domain.ranking import RANKED_STATUS, RankedRow

__all__ = ["BOUNDARY_TIES", "Decision", "SelectionResult", "SelectionRules", "select"]

BOUNDARY_TIES = ("admit_all", "admit_none")

ADMITTED, RESERVE, NOT_ADMITTED, INELIGIBLE = "admitted", "reserve", "not_admitted", "ineligible"
LEAGUE_MINIMUM, OVERALL = "league_minimum", "overall"


@dataclass(frozen=True)
class SelectionRules:
    """The rules of one subject's selection; ``check`` refuses a contradictory set."""

    cutoff: float
    quota: int
    league_min: Mapping[str, int] = field(default_factory=dict)
    league_max: Mapping[str, int] = field(default_factory=dict)
    boundary_ties: str = "admit_all"
    reserve_count: int = 0

    def check(self) -> None:
        """Raise ValueError with a clear message when the rules cannot be applied."""
        for name, value in (("quota", self.quota), ("reserve_count", self.reserve_count)):
            _count(value, name)
        for name, limits in (("league_min", self.league_min), ("league_max", self.league_max)):
            for league, value in limits.items():
                _count(value, f"{name}[{league!r}]")
        for league, maximum in self.league_max.items():
            minimum = self.league_min.get(league, 0)
            if maximum < minimum:
                raise ValueError(f"league {league}: maximum {maximum} is below its minimum {minimum}")
        if sum(self.league_min.values()) > self.quota:
            raise ValueError(f"the league minimums add up to {sum(self.league_min.values())}, "
                             f"more than the quota of {self.quota}")
        if self.boundary_ties not in BOUNDARY_TIES:
            raise ValueError(f"boundary_ties must be one of {', '.join(BOUNDARY_TIES)}, "
                             f"not {self.boundary_ties!r}")
        if isinstance(self.cutoff, bool) or not isinstance(self.cutoff, (int, float)) \
                or not math.isfinite(self.cutoff):
            raise ValueError(f"cutoff must be a number, not {self.cutoff!r}")


def _count(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number ≥ 0, not {value!r}")


@dataclass(frozen=True)
class Decision:
    """What selection decided for one student, which step decided it, and why."""

    attempt_id: Hashable
    status: str  # admitted, reserve, not_admitted or ineligible
    step: str | None  # league_minimum or overall (admitted), reserve, else None
    reason_zh: str
    reason_en: str
    rank: int | None
    league_code: str | None
    total: float
    reserve_position: int | None = None  # 1 + reserve students strictly ahead


@dataclass(frozen=True)
class SelectionResult:
    """Admitted and reserve students in rank order, and a decision for every student given."""

    admitted: tuple[Decision, ...]
    reserve: tuple[Decision, ...]
    decisions: Mapping[Hashable, Decision]  # attempt id -> decision, in the order rows were given
    league_admitted: Mapping[str, int]  # league code -> students admitted
    league_shortfall: Mapping[str, int]  # league code -> places of its minimum left unfilled


_TIE_NOTE = ("；与他人并列于边界，并列者全部入围", "; tied at the boundary, so every tied student is admitted")


def _reasons(key: str, rules: SelectionRules, row: RankedRow) -> tuple[str, str]:
    # Reason texts, Chinese first. Kept here, beside the rule they explain.
    league = row.league_code
    texts = {
        "league_minimum": (f"按盟市最少入围人数（{rules.league_min.get(league)} 人）入围",
                           f"admitted to fill the league minimum of {rules.league_min.get(league)}"),
        "overall": (f"按总排名入围（第 {row.rank} 名）", f"admitted by overall rank (rank {row.rank})"),
        "voided": ("作答已作废（违纪），不参加排名和入围", "attempt voided (misconduct): not ranked or selected"),
        "absent": ("缺考", "absent"),
        "unfinished": ("作答未完成交卷，不参加入围", "attempt not finalized: not selected"),
        "below_cutoff": (f"总分 {row.total:g} 低于分数线 {rules.cutoff:g}",
                         f"total {row.total:g} is below the cut-off {rules.cutoff:g}"),
        "quota_full": (f"总名额 {rules.quota} 人已满",
                       f"all {rules.quota} places went to higher-ranked students"),
        "quota_tie": ("与他人并列于总名额边界，按规则并列者均不入围",
                      "tied at the quota boundary; under admit_none no tied student is admitted"),
        "league_full": (f"所在盟市已达最多入围人数（{rules.league_max.get(league)} 人）",
                        f"the league has reached its maximum of {rules.league_max.get(league)}"),
        "league_tie": ("与本盟市他人并列于最多入围人数边界，按规则并列者均不入围",
                       "tied at the league maximum; under admit_none no tied student is admitted"),
        "after_quota_tie": ("总名额边界的并列者均不入围，空出的名额不向后递补",
                            "places left by a tie at the quota boundary are not passed further down"),
        "after_league_tie": ("本盟市最多入围人数边界的并列者均不入围，空出的名额不向后递补",
                             "places left by a tie at the league maximum are not passed further down"),
    }
    return texts[key]


def select(rows: Sequence[RankedRow], rules: SelectionRules) -> SelectionResult:
    """Select students for one subject.

    Rules, in this order:
    1. Eligible: finalized (ranked), not voided or absent, total at or above the cut-off (to the
       cent).
    2. Each league's minimum is filled from its best eligible students by overall rank; a league
       with fewer eligible students gets all it has (its shortfall is reported).
    3. The remaining places (quota minus those admitted) are filled by overall rank, never taking
       a league above its maximum; a league at its maximum is skipped, the next student goes on.
    4. A group tied on overall rank that crosses a boundary — the quota, a league's minimum or a
       league's maximum — follows ``boundary_ties``: ``admit_all`` admits the whole tied group even
       beyond the quota or maximum; ``admit_none`` admits nobody of it, and nobody below it takes
       the place (at a league boundary: nobody below in that league).
    5. The reserve list is the next ``reserve_count`` eligible students by overall rank who were not
       admitted (a tie at its end follows ``boundary_ties`` too).
    Each admitted student records the step that admitted them (``league_minimum`` or
    ``overall``); reserve students record ``reserve``. Contradictory rules raise ValueError.
    """
    rules.check()
    ids = [row.attempt_id for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("each attempt may appear only once in a selection")
    admit_all = rules.boundary_ties == "admit_all"
    cutoff = round(rules.cutoff * 100)
    outcome: dict[Hashable, tuple[str, str | None, str, bool]] = {}  # id -> status, step, reason, tie

    eligible: list[RankedRow] = []
    for row in rows:
        if row.status in ("voided", "absent"):
            outcome[row.attempt_id] = (INELIGIBLE, None, row.status, False)
        elif row.status != RANKED_STATUS or row.rank is None:
            outcome[row.attempt_id] = (INELIGIBLE, None, "unfinished", False)
        elif round(row.total * 100) < cutoff:
            outcome[row.attempt_id] = (INELIGIBLE, None, "below_cutoff", False)
        else:
            eligible.append(row)
    eligible.sort(key=lambda row: row.rank)
    admitted_in: Counter[str] = Counter()

    def admit(group: Iterable[RankedRow], step: str, tie: bool) -> None:
        for row in group:
            outcome[row.attempt_id] = (ADMITTED, step, step, tie)
            admitted_in[row.league_code] += 1

    # Step 2: league minimums.
    by_league: dict[str, list[RankedRow]] = defaultdict(list)
    for row in eligible:
        by_league[row.league_code].append(row)
    shortfall: dict[str, int] = {}
    for league, minimum in sorted(rules.league_min.items()):
        members = by_league.get(league, [])
        taken, tie = _cut(members, minimum, admit_all)
        admit(taken, LEAGUE_MINIMUM, tie)
        if len(taken) < minimum:
            shortfall[league] = minimum - len(taken)

    # Step 3: the remaining places by overall rank, one tied group at a time.
    remaining = rules.quota - sum(admitted_in.values())
    closed: dict[str | None, str] = {}  # league -> why later students of it are not admitted
    stop: str | None = None  # why nobody further down is admitted
    for group in _tied_groups(eligible):
        waiting = [row for row in group if row.attempt_id not in outcome]
        if remaining <= 0 and stop is None:
            stop = "quota_full"
        if stop is not None:
            outcome.update((row.attempt_id, (NOT_ADMITTED, None, stop, False)) for row in waiting)
            continue
        fitting: list[RankedRow] = []
        over_league_max: set[Hashable] = set()  # admitted past a league maximum by admit_all
        for league, members in _by_league(waiting).items():
            room = rules.league_max[league] - admitted_in[league] if league in rules.league_max else math.inf
            if league not in closed and room <= 0:
                closed[league] = "league_full"
            if league in closed:
                blocked = closed[league]
            elif len(members) <= room or admit_all:
                if len(members) > room:
                    over_league_max.update(row.attempt_id for row in members)
                fitting.extend(members)
                continue
            else:
                blocked, closed[league] = "league_tie", "after_league_tie"
            outcome.update((row.attempt_id, (NOT_ADMITTED, None, blocked, False)) for row in members)
        if len(fitting) <= remaining:
            for row in fitting:
                admit([row], OVERALL, row.attempt_id in over_league_max)
            remaining -= len(fitting)
        elif admit_all:
            admit(fitting, OVERALL, True)
            remaining = 0
        else:
            outcome.update((row.attempt_id, (NOT_ADMITTED, None, "quota_tie", False)) for row in fitting)
            stop = "after_quota_tie"

    # Step 5: the reserve list.
    waiting = [row for row in eligible if outcome[row.attempt_id][0] != ADMITTED]
    reserve, _ = _cut(waiting, rules.reserve_count, admit_all)
    return _result(rows, rules, outcome, reserve, admitted_in, shortfall)


def _cut(members: Sequence[RankedRow], size: int, admit_all: bool) -> tuple[list[RankedRow], bool]:
    # The best `size` members; a tied group crossing the cut is all in (admit_all) or all out.
    if len(members) <= size:
        return list(members), False
    if size == 0:
        return [], False
    boundary = members[size - 1].rank
    if members[size].rank != boundary:
        return list(members[:size]), False
    if admit_all:
        return [row for row in members if row.rank <= boundary], True
    return [row for row in members if row.rank < boundary], False


def _tied_groups(rows: Sequence[RankedRow]) -> list[list[RankedRow]]:
    groups: list[list[RankedRow]] = []
    for row in rows:
        if groups and groups[-1][0].rank == row.rank:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _by_league(rows: Iterable[RankedRow]) -> dict[str | None, list[RankedRow]]:
    grouped: dict[str | None, list[RankedRow]] = defaultdict(list)
    for row in rows:
        grouped[row.league_code].append(row)
    return grouped


def _result(rows: Sequence[RankedRow], rules: SelectionRules, outcome: Mapping, reserve: Sequence[RankedRow],
            admitted_in: Counter, shortfall: Mapping[str, int]) -> SelectionResult:
    positions: dict[Hashable, int] = {}  # reserve position: 1 + reserve students strictly ahead
    for index, row in enumerate(reserve):
        if index > 0 and reserve[index - 1].rank == row.rank:
            positions[row.attempt_id] = positions[reserve[index - 1].attempt_id]
        else:
            positions[row.attempt_id] = index + 1
    decisions: dict[Hashable, Decision] = {}
    for row in rows:
        status, step, reason, tie = outcome[row.attempt_id]
        zh, en = _reasons(reason, rules, row)
        if tie:
            zh, en = zh + _TIE_NOTE[0], en + _TIE_NOTE[1]
        position = positions.get(row.attempt_id)
        if position is not None:
            status, step = RESERVE, "reserve"
            zh, en = f"候补第 {position} 位（{zh}）", f"reserve no. {position} ({en})"
        decisions[row.attempt_id] = Decision(row.attempt_id, status, step, zh, en, row.rank,
                                             row.league_code, row.total, position)
    admitted = sorted((d for d in decisions.values() if d.status == ADMITTED), key=lambda d: d.rank)
    return SelectionResult(
        admitted=tuple(admitted),
        reserve=tuple(decisions[row.attempt_id] for row in reserve),
        decisions=decisions,
        league_admitted={league: n for league, n in admitted_in.items() if league is not None},
        league_shortfall=dict(shortfall),
    )
