"""Differential item functioning (DIF) by the Mantel–Haenszel procedure, with the ETS A/B/C classes.

The rule (Holland & Thayer 1988; Dorans & Holland 1993; Zwick 2012, ETS RR-12-08):
- Students are matched on total score (number right on the analysed items, the studied item
  included); each total is one stratum. In stratum k, A/B are the reference group's right/wrong
  counts and C/D the focal group's, T the stratum size.
- The common odds ratio α_MH = Σ(A·D/T) / Σ(B·C/T); MH D-DIF Δ = −2.35·ln α_MH (the ETS delta
  scale). Δ < 0: the item is harder for the focal group than for reference students of the same
  total; Δ > 0: easier.
- The MH chi-square (1 df, with Yates' 0.5 continuity correction unless asked otherwise) is
  (|ΣA − ΣE(A)| − 0.5)² / ΣVar(A), E(A) = n_R·m_1/T, Var(A) = n_R·n_F·m_1·m_0 / (T²(T − 1)).
- The standard error of ln α_MH is the Robins–Breslow–Greenland (1986) estimator; SE(Δ) = 2.35·SE.
- Class A (negligible): |Δ| < 1, or the chi-square is not significant at 5 %.
  Class C (large): |Δ| ≥ 1.5 and |Δ| significantly greater than 1 (one-sided 5 %: (|Δ| − 1)/SE(Δ) > 1.645).
  Class B (moderate): otherwise.
- Too small a group gives no class: with fewer than MIN_GROUP (100) students in the focal or the
  reference group, Δ is still reported but not classed. The standard error of Δ for a group of 30
  is around one delta unit, and with a dozen leagues × dozens of items, chance alone would put some
  clean items in class C; ETS itself only runs DIF analyses on groups of a few hundred.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import chdtrc

DELTA_SCALE = -2.35
SIGNIFICANCE = 0.05
ONE_SIDED_Z = 1.645
MIN_GROUP = 100


@dataclass(frozen=True)
class MHResult:
    """The Mantel–Haenszel statistics of one item for one focal/reference comparison."""

    alpha: float
    log_alpha_se: float
    delta: float
    delta_se: float
    chi2: float
    p_value: float
    n_reference: int
    n_focal: int
    ets_class: str | None  # "A" | "B" | "C" | None (too few students)


def mantel_haenszel(tables: Sequence[Sequence[float]], *, continuity: bool = True,
                    min_group: int = MIN_GROUP) -> MHResult:
    """The MH statistics from per-stratum counts (A, B, C, D) = (ref right, ref wrong, focal right, focal wrong)."""
    t = np.asarray(tables, dtype=float).reshape(-1, 4)
    a, b, c, d = t.T
    n = a + b + c + d
    keep = n >= 2
    a, b, c, d, n = a[keep], b[keep], c[keep], d[keep], n[keep]
    n_ref, n_focal = a + b, c + d
    m1, m0 = a + c, b + d
    r, s = a * d / n, b * c / n
    sum_r, sum_s = r.sum(), s.sum()
    alpha = sum_r / sum_s if sum_s > 0 else (float("inf") if sum_r > 0 else float("nan"))
    expected = n_ref * m1 / n
    variance = n_ref * n_focal * m1 * m0 / (n ** 2 * (n - 1))
    var_sum = variance.sum()
    diff = abs(a.sum() - expected.sum())
    if continuity:
        diff = max(0.0, diff - 0.5)
    chi2 = float(diff ** 2 / var_sum) if var_sum > 0 else float("nan")
    p_value = float(chdtrc(1, chi2)) if not np.isnan(chi2) else float("nan")
    if sum_r > 0 and sum_s > 0:
        p, q = (a + d) / n, (b + c) / n
        var_log = ((p * r).sum() / (2 * sum_r ** 2) + (p * s + q * r).sum() / (2 * sum_r * sum_s)
                   + (q * s).sum() / (2 * sum_s ** 2))
        log_se = float(np.sqrt(var_log))
        delta = float(DELTA_SCALE * np.log(alpha))
    elif sum_r > 0:  # no focal-right/reference-wrong pairs: α = ∞, the item favours the reference group
        log_se, delta = float("nan"), float("-inf")
    elif sum_s > 0:  # α = 0: it favours the focal group
        log_se, delta = float("nan"), float("inf")
    else:
        log_se, delta = float("nan"), float("nan")
    delta_se = abs(DELTA_SCALE) * log_se
    nr, nf = int(n_ref.sum()), int(n_focal.sum())
    cls = ets_class(delta, delta_se, p_value) if min(nr, nf) >= min_group else None
    return MHResult(float(alpha), log_se, delta, float(delta_se), chi2, p_value, nr, nf, cls)


def ets_class(delta: float, delta_se: float, p_value: float) -> str:
    """ETS DIF class of an MH D-DIF value (see the module docstring)."""
    if np.isnan(delta) or np.isnan(p_value):
        return "A"
    size = abs(delta)
    if size < 1.0 or p_value >= SIGNIFICANCE:
        return "A"
    if size >= 1.5 and (np.isinf(size) or (delta_se > 0 and (size - 1.0) / delta_se > ONE_SIDED_Z)):
        return "C"
    return "B"


def strata_tables(correct: Any, focal: Any, matching: Any) -> list[tuple[int, int, int, int]]:
    """(A, B, C, D) per distinct matching score, from 0/1 item scores and a focal-group mask."""
    y = np.asarray(correct, dtype=float)
    f = np.asarray(focal, dtype=bool)
    m = np.asarray(matching, dtype=float)
    tables = []
    for level in np.unique(m):
        at = m == level
        ref, foc = at & ~f, at & f
        tables.append((int((y[ref] == 1).sum()), int((y[ref] == 0).sum()),
                       int((y[foc] == 1).sum()), int((y[foc] == 0).sum())))
    return tables


def dif_by_group(responses: Any, groups: Sequence[Hashable | None], *, matching: Any = None,
                 continuity: bool = True, min_group: int = MIN_GROUP) -> dict[Hashable, list[MHResult]]:
    """For each group: every item's MH DIF with that group as focal and all other students as reference.

    ``responses`` is students × items, 0/1; students whose group is None take part in matching
    and in no comparison. ``matching`` defaults to the number right on all items.
    """
    x = np.asarray(responses, dtype=float)
    labels = list(groups)
    total = x.sum(axis=1) if matching is None else np.asarray(matching, dtype=float)
    known = np.array([g is not None for g in labels])
    out: dict[Hashable, list[MHResult]] = {}
    for group in sorted({g for g in labels if g is not None}, key=str):
        focal = np.array([g == group for g in labels])
        rows = x[known]
        out[group] = [mantel_haenszel(strata_tables(rows[:, i], focal[known], total[known]), continuity=continuity,
                                      min_group=min_group) for i in range(x.shape[1])]
    return out


def worst_class(results: Sequence[MHResult]) -> str | None:
    """The most serious ETS class among comparisons (C over B over A), None if none was classed."""
    classes = {r.ets_class for r in results if r.ets_class}
    for cls in ("C", "B", "A"):
        if cls in classes:
            return cls
    return None
