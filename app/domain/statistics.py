"""Classical item and test analysis on plain arrays (students × items).

Conventions, stated once:
- ``scores`` holds each student's points on each item (any scale); ``max_points`` the item's
  maximum. Facility p is the mean of points / max (the proportion correct for a 0/1 item; the mean
  fraction of credit for a partial-credit item).
- A student's total is the sum of their points on the analysed items.
- Upper and lower groups are the top and bottom 27 % of students by total (Kelley, 1939). Students
  tied at a group's boundary share the remaining places equally (each counts with the same
  fractional weight), so the groups never depend on the order rows happen to be in.
- Discrimination is reported two ways: D = p(upper) − p(lower), and the corrected point-biserial,
  the Pearson correlation of the item with the rest of the test (total minus the item), so an item
  is not correlated with itself.
- Reliability is Cronbach's alpha, k/(k−1)·(1 − Σ var(item) / var(total)); on 0/1 items it equals
  KR-20, k/(k−1)·(1 − Σ p·q / var(total)). Variances are population variances (÷ N) throughout,
  as in Kuder and Richardson's formula; the ratio is the same with ÷ (N − 1) used consistently.
- The standard error of measurement is SD·√(1 − reliability), with the sample SD of totals.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

UPPER_LOWER_FRACTION = 0.27
OPTION_CURVE_GROUPS = 5


def _matrix(scores: Any) -> np.ndarray:
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise ValueError("scores must be a students × items matrix")
    return x


def facility(scores: Any, max_points: Sequence[float] | None = None) -> np.ndarray:
    """Facility (difficulty index) p of each item: the mean of points / max."""
    x = _matrix(scores)
    m = np.ones(x.shape[1]) if max_points is None else np.asarray(max_points, dtype=float)
    if x.shape[0] == 0:
        return np.full(x.shape[1], np.nan)
    return x.mean(axis=0) / m


def group_weights(totals: Any, fraction: float = UPPER_LOWER_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Weights (0..1) of each student in the upper and in the lower group.

    Each group has round(N·fraction) places (at least one). Students are taken from the top
    (bottom) by total; the students tied at the total where the places run out share the
    remaining places equally.
    """
    t = np.asarray(totals, dtype=float)
    n = t.size
    places = max(1.0, float(np.floor(n * fraction + 0.5))) if n else 0.0

    def fill(order_key: np.ndarray) -> np.ndarray:
        weights = np.zeros(n)
        left = places
        for value in np.unique(order_key)[::-1]:
            if left <= 1e-12:
                break
            members = order_key == value
            count = int(members.sum())
            share = min(1.0, left / count)
            weights[members] = share
            left -= share * count
        return weights

    return fill(t), fill(-t)


def upper_lower_discrimination(scores: Any, max_points: Sequence[float] | None = None,
                               totals: Any = None, fraction: float = UPPER_LOWER_FRACTION) -> np.ndarray:
    """D = facility in the upper group − facility in the lower group, per item (Kelley's 27 %)."""
    x = _matrix(scores)
    m = np.ones(x.shape[1]) if max_points is None else np.asarray(max_points, dtype=float)
    t = x.sum(axis=1) if totals is None else np.asarray(totals, dtype=float)
    upper, lower = group_weights(t, fraction)
    if upper.sum() == 0 or lower.sum() == 0:
        return np.full(x.shape[1], np.nan)
    frac = x / m
    return (upper @ frac) / upper.sum() - (lower @ frac) / lower.sum()


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denominator) if denominator > 0 else float("nan")


def point_biserial(scores: Any, corrected: bool = True) -> np.ndarray:
    """Correlation of each item with the total; ``corrected`` uses the rest score (total − item)."""
    x = _matrix(scores)
    total = x.sum(axis=1)
    return np.array([_pearson(x[:, i], total - x[:, i] if corrected else total) for i in range(x.shape[1])])


def cronbach_alpha(scores: Any) -> float:
    """Cronbach's alpha (KR-20 on 0/1 items); NaN with fewer than two items or no spread in totals."""
    x = _matrix(scores)
    k = x.shape[1]
    if k < 2 or x.shape[0] < 2:
        return float("nan")
    total_var = x.sum(axis=1).var()
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - x.var(axis=0).sum() / total_var))


def alpha_if_deleted(scores: Any) -> np.ndarray:
    """Cronbach's alpha of the test without each item in turn (a rise means the item weakens the test)."""
    x = _matrix(scores)
    return np.array([cronbach_alpha(np.delete(x, i, axis=1)) for i in range(x.shape[1])])


def kr20(scores: Any) -> float:
    """Kuder–Richardson formula 20 for 0/1 items: k/(k−1)·(1 − Σ p·q / σ²_X)."""
    x = _matrix(scores)
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("KR-20 needs 0/1 scores; use cronbach_alpha for partial credit")
    k = x.shape[1]
    if k < 2 or x.shape[0] < 2:
        return float("nan")
    p = x.mean(axis=0)
    total_var = x.sum(axis=1).var()
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - (p * (1 - p)).sum() / total_var))


def standard_error_of_measurement(sd: float, reliability: float) -> float:
    """SEM = SD·√(1 − reliability); NaN when reliability is unknown, 0 floor for reliability ≥ 1."""
    if reliability is None or np.isnan(reliability):
        return float("nan")
    return float(sd * np.sqrt(max(0.0, 1.0 - reliability)))


@dataclass(frozen=True)
class Distribution:
    """Summary of a set of total scores and their histogram."""

    n: int
    mean: float
    sd: float
    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    bin_edges: list[float]
    counts: list[int]


def describe(totals: Any, max_score: float | None = None, bins: int | None = None) -> Distribution:
    """Mean, sample SD, quartiles and a histogram of totals (integer-width bins up to the maximum)."""
    t = np.asarray(totals, dtype=float)
    if t.size == 0:
        return Distribution(0, *([float("nan")] * 7), [], [])
    top = float(max_score if max_score is not None else max(t.max(), 1.0))
    if bins is None:
        bins = int(min(max(np.ceil(top), 1), 40))
    counts, edges = np.histogram(t, bins=bins, range=(0.0, top))
    q1, median, q3 = np.percentile(t, [25, 50, 75])
    return Distribution(int(t.size), float(t.mean()), float(t.std(ddof=1)) if t.size > 1 else 0.0,
                        float(t.min()), float(q1), float(median), float(q3), float(t.max()),
                        [float(e) for e in edges], [int(c) for c in counts])


# --- options: distractor tables and option curves ---------------------------------------------


def _chosen(choice: Any) -> set[str]:
    """The options one response names (a single id, a list of ids, a boolean), as a set of ids."""
    if choice is None:
        return set()
    if isinstance(choice, bool):
        return {"true" if choice else "false"}
    if isinstance(choice, (list, tuple, set)):
        return {str(c) for c in choice}
    return {str(choice)}


@dataclass(frozen=True)
class OptionRow:
    """Share of students choosing one option, overall and by score group."""

    option: str
    is_key: bool
    share: float
    upper: float
    middle: float
    lower: float
    count: int


def distractor_table(choices: Sequence[Any], options: Sequence[str], key: Sequence[str],
                     totals: Any, fraction: float = UPPER_LOWER_FRACTION) -> list[OptionRow]:
    """For each option (and a final ``""`` row for omissions): who chose it, overall and by group.

    A multiple-answer response counts for every option it names. Groups are the upper and lower
    27 % by total (fractional weights at ties) and the middle (everyone else, weight 1 − u − l).
    """
    t = np.asarray(totals, dtype=float)
    upper, lower = group_weights(t, fraction)
    middle = 1.0 - upper - lower
    sets = [_chosen(c) for c in choices]
    keys = {str(k) for k in key}
    rows = []
    def share(w: np.ndarray, picked: np.ndarray) -> float:
        return float(w @ picked / w.sum()) if w.sum() > 0 else float("nan")

    for option in [*map(str, options), ""]:
        picked = np.array([(not s) if option == "" else (option in s) for s in sets], dtype=float)
        rows.append(OptionRow(option, option in keys, float(picked.mean()) if picked.size else float("nan"),
                              share(upper, picked), share(middle, picked), share(lower, picked),
                              int(picked.sum())))
    return rows


@dataclass(frozen=True)
class OptionCurve:
    """Share choosing each option in score groups of rising total (for a trace-line chart)."""

    group_means: list[float]
    shares: dict[str, list[float]] = field(default_factory=dict)


def option_curve(choices: Sequence[Any], options: Sequence[str], totals: Any,
                 groups: int = OPTION_CURVE_GROUPS) -> OptionCurve:
    """Split students into ``groups`` groups of equal size by total (ties kept together where possible)."""
    t = np.asarray(totals, dtype=float)
    if t.size == 0:
        return OptionCurve([], {str(o): [] for o in options})
    order = np.argsort(t, kind="stable")
    parts = [p for p in np.array_split(order, min(groups, t.size)) if p.size]
    sets = [_chosen(c) for c in choices]
    shares = {str(o): [float(np.mean([str(o) in sets[i] for i in part])) for part in parts] for o in options}
    return OptionCurve([float(t[part].mean()) for part in parts], shares)


# --- flags -----------------------------------------------------------------------------------------

# Thresholds (commonly used in classroom item analysis, e.g. Ebel & Frisbie's guide for D).
TOO_EASY = 0.90
TOO_HARD = 0.20
LOW_DISCRIMINATION = 0.10
MIN_STUDENTS_FOR_FLAGS = 10


@dataclass(frozen=True)
class Flag:
    """A finding about an item: a stable code, how serious, and the values behind it.

    The words shown to people live in the web layer (translated); this is the rule.
    """

    code: str
    severity: str  # "error" (likely a wrong key or broken item) | "warning" | "info"
    detail: dict[str, Any] = field(default_factory=dict)


def item_flags(*, facility_p: float, discrimination: float, point_biserial_r: float,
               options: Sequence[OptionRow] | None, n_students: int) -> list[Flag]:
    """The flags of one item, most serious first.

    - negative discrimination (D < 0 or corrected point-biserial < 0): the better students do worse on
      it; the usual cause is a wrong key;
    - near-zero discrimination (corrected point-biserial < 0.10): it hardly separates strong from weak;
    - a distractor the upper group chose more often than the key (the least chosen key option, for a
      multiple-answer item): check the key; one flag, naming the distractor they preferred most;
    - too easy (p > 0.90) or too hard (p < 0.20);
    - a distractor nobody chose: it does no work.
    Nothing is flagged for fewer than ten students: the figures would be noise.
    """
    if n_students < MIN_STUDENTS_FOR_FLAGS:
        return []
    flags: list[Flag] = []
    r = point_biserial_r
    if (not np.isnan(discrimination) and discrimination < 0) or (not np.isnan(r) and r < 0):
        flags.append(Flag("negative_discrimination", "error", {"d": discrimination, "r": r}))
    elif not np.isnan(r) and r < LOW_DISCRIMINATION:
        flags.append(Flag("low_discrimination", "warning", {"d": discrimination, "r": r}))
    if options:
        keyed = [o for o in options if o.is_key]
        distractors = [o for o in options if not o.is_key and o.option != ""]
        if keyed:
            key_upper = min(o.upper for o in keyed)
            rivals = [o for o in distractors if o.upper > key_upper]
            if rivals:  # one flag, naming the distractor the upper group preferred most
                top = max(rivals, key=lambda o: o.upper)
                flags.append(Flag("distractor_beats_key", "error",
                                  {"option": top.option, "upper": top.upper, "key_upper": key_upper}))
    if not np.isnan(facility_p):
        if facility_p > TOO_EASY:
            flags.append(Flag("too_easy", "warning", {"p": facility_p}))
        elif facility_p < TOO_HARD:
            flags.append(Flag("too_hard", "warning", {"p": facility_p}))
    for o in options or []:
        if not o.is_key and o.option != "" and o.count == 0:
            flags.append(Flag("unused_distractor", "info", {"option": o.option}))
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(flags, key=lambda f: order[f.severity])
