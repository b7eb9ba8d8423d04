"""Rasch (1PL) calibration by joint maximum likelihood, with the (L − 1)/L bias correction.

The model: P(student n answers item i correctly) = exp(θ_n − b_i) / (1 + exp(θ_n − b_i)).

How it is estimated (Wright & Panchapakesan 1969; Wright & Masters 1982; Linacre's Winsteps):
- Students with no or all items right, and items nobody or everybody got right, carry no
  information about the others and are set aside (repeatedly, since removing one can make
  another extreme). They are reported as extreme, with an estimate at a raw score 0.3 from the
  extreme (Winsteps' EXTRSC=0.3) for students, and no estimate for items.
- Abilities and difficulties are updated by alternating Newton–Raphson steps (each limited to one
  logit) until no estimate moves by more than ``tol``; item difficulties are centred at 0.
- JMLE difficulties are biased outwards by about L/(L − 1) for L items, so they are multiplied by
  (L − 1)/L (Wright & Douglas 1977); abilities are then re-estimated against the corrected items.
- Standard errors are model SEs, 1/√(Σ P(1−P)). Fit: outfit MNSQ is the mean squared standardized
  residual; infit MNSQ is Σ(x − P)² / Σ P(1 − P) (information-weighted); both have expectation 1.
  ZSTD uses the Wilson–Hilferty cube-root transformation (Wright & Masters 1982, p. 100).
- Missing responses (NaN) are allowed and skipped; an unanswered question that was scored counts
  as 0, not as missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EXTREME_ADJUSTMENT = 0.3
MAX_STEP = 1.0


@dataclass(frozen=True)
class RaschResult:
    """Estimates in logits, items centred at 0; NaN where a value does not exist (extreme items)."""

    item_difficulty: np.ndarray
    item_se: np.ndarray
    item_infit: np.ndarray
    item_outfit: np.ndarray
    item_infit_z: np.ndarray
    item_outfit_z: np.ndarray
    item_extreme: list[str]  # "" | "all_correct" | "none_correct"
    person_ability: np.ndarray
    person_se: np.ndarray
    person_infit: np.ndarray
    person_outfit: np.ndarray
    person_extreme: list[str]  # "" | "all_correct" | "none_correct"
    iterations: int
    converged: bool

    @property
    def person_reliability(self) -> float:
        """Rasch person reliability: (observed variance − mean error variance) / observed variance."""
        keep = np.array([e == "" for e in self.person_extreme])
        a, se = self.person_ability[keep], self.person_se[keep]
        if a.size < 2 or a.var() == 0:
            return float("nan")
        return float(max(0.0, (a.var() - np.mean(se ** 2)) / a.var()))


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _active(x: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Students and items left after repeatedly setting aside extreme scores."""
    persons = np.ones(x.shape[0], dtype=bool)
    items = np.ones(x.shape[1], dtype=bool)
    while True:
        o = obs & persons[:, None] & items[None, :]
        xs = np.where(o, x, 0.0)
        pr, pn = xs.sum(axis=1), o.sum(axis=1)
        ir, in_ = xs.sum(axis=0), o.sum(axis=0)
        new_persons = persons & (pn > 0) & (pr > 0) & (pr < pn)
        new_items = items & (in_ > 0) & (ir > 0) & (ir < in_)
        if (new_persons == persons).all() and (new_items == items).all():
            return persons, items
        persons, items = new_persons, new_items


def _person_estimates(x: np.ndarray, obs: np.ndarray, b: np.ndarray, theta: np.ndarray,
                      targets: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Newton–Raphson for abilities against fixed item difficulties, aiming at raw scores ``targets``."""
    theta = theta.copy()
    for _ in range(max_iter):
        p = np.where(obs, _expit(theta[:, None] - b[None, :]), 0.0)
        w = (p * (1 - p)).sum(axis=1)
        step = np.clip((targets - p.sum(axis=1)) / np.maximum(w, 1e-12), -MAX_STEP, MAX_STEP)
        theta += step
        if np.abs(step).max(initial=0.0) < tol:
            break
    return theta


def _wilson_hilferty(mnsq: np.ndarray, q: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.cbrt(mnsq) - 1.0) * (3.0 / q) + q / 3.0
    return np.where(q > 0, z, np.nan)


def _fit(x: np.ndarray, obs: np.ndarray, p: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """Infit and outfit mean squares and their ZSTD along ``axis`` (0: items, 1: students)."""
    w = np.where(obs, p * (1 - p), 0.0)
    resid2 = np.where(obs, (x - p) ** 2, 0.0)
    n = obs.sum(axis=axis).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = np.where(obs, resid2 / np.where(w > 0, w, 1.0), 0.0)
        outfit = z2.sum(axis=axis) / n
        infit = resid2.sum(axis=axis) / w.sum(axis=axis)
        # Fourth central moment of a 0/1 observation: P(1−P)⁴ + (1−P)P⁴.
        c = np.where(obs, p * (1 - p) ** 4 + (1 - p) * p ** 4, 0.0)
        q_out = np.sqrt(np.maximum((np.where(obs, c / np.where(w > 0, w ** 2, 1.0), 0.0)).sum(axis=axis) / n ** 2
                                   - 1.0 / n, 0.0))
        q_in = np.sqrt(np.maximum((c - w ** 2).sum(axis=axis) / w.sum(axis=axis) ** 2, 0.0))
    return infit, outfit, _wilson_hilferty(infit, q_in), _wilson_hilferty(outfit, q_out)


def fit(responses: Any, *, tol: float = 1e-5, max_iter: int = 500, bias_correction: bool = True) -> RaschResult:
    """Calibrate item difficulties and student abilities from a students × items 0/1 matrix (NaN = missing)."""
    x = np.asarray(responses, dtype=float)
    if x.ndim != 2:
        raise ValueError("responses must be a students × items matrix")
    obs = ~np.isnan(x)
    if not np.isin(x[obs], (0.0, 1.0)).all():
        raise ValueError("Rasch responses must be 0, 1 or missing")
    x = np.where(obs, x, 0.0)
    persons, items = _active(x, obs)
    n_items = int(items.sum())
    b = np.full(x.shape[1], np.nan)
    theta = np.zeros(x.shape[0])
    iterations, converged = 0, True
    if persons.sum() >= 2 and n_items >= 2:
        xa, oa = x[np.ix_(persons, items)], obs[np.ix_(persons, items)]
        r, s = xa.sum(axis=1), xa.sum(axis=0)
        nr, ns = oa.sum(axis=1), oa.sum(axis=0)
        th = np.log(r / (nr - r))
        bb = -np.log(s / (ns - s))
        bb -= bb.mean()
        converged = False
        for iterations in range(1, max_iter + 1):
            p = np.where(oa, _expit(th[:, None] - bb[None, :]), 0.0)
            step_t = np.clip((r - p.sum(axis=1)) / (p * (1 - p)).sum(axis=1), -MAX_STEP, MAX_STEP)
            th += step_t
            p = np.where(oa, _expit(th[:, None] - bb[None, :]), 0.0)
            step_b = np.clip((p.sum(axis=0) - s) / (p * (1 - p)).sum(axis=0), -MAX_STEP, MAX_STEP)
            bb += step_b
            shift = bb.mean()
            bb -= shift
            th -= shift
            if max(np.abs(step_t).max(), np.abs(step_b).max()) < tol:
                converged = True
                break
        if bias_correction:
            bb *= (n_items - 1) / n_items
        b[items] = bb
        theta[persons] = th
    # Abilities of every student against the (corrected) items; extreme students aim at r ± 0.3.
    b_use = np.where(items, b, 0.0)
    o_items = obs & items[None, :]
    raw = np.where(o_items, x, 0.0).sum(axis=1)
    n_obs = o_items.sum(axis=1)
    person_extreme = ["" if persons[n] else ("none_correct" if raw[n] <= 0 else "all_correct")
                      if n_obs[n] else "none_correct" for n in range(x.shape[0])]
    target = np.clip(raw, EXTREME_ADJUSTMENT, np.maximum(n_obs - EXTREME_ADJUSTMENT, EXTREME_ADJUSTMENT))
    start = np.where(persons, theta, np.log(target / np.maximum(n_obs - target, 1e-9)))
    theta = _person_estimates(x, o_items, b_use, start, target, tol, max_iter) if n_items else start
    theta = np.where(n_obs > 0, theta, np.nan) if n_items else np.full(x.shape[0], np.nan)
    p_all = _expit(theta[:, None] - b_use[None, :])
    w_all = np.where(o_items, p_all * (1 - p_all), 0.0)
    with np.errstate(divide="ignore"):
        person_se = np.where(n_obs > 0, 1.0 / np.sqrt(w_all.sum(axis=1)), np.nan)
    # Item SEs and fit use the non-extreme students only (extreme ones have no residual information).
    o_fit = obs & persons[:, None] & items[None, :]
    w_items = np.where(o_fit, p_all * (1 - p_all), 0.0).sum(axis=0)
    with np.errstate(divide="ignore"):
        item_se = np.where(items, 1.0 / np.sqrt(w_items), np.nan)
    i_in, i_out, i_in_z, i_out_z = _fit(x, o_fit, p_all, axis=0)
    p_in, p_out, _, _ = _fit(x, o_fit, p_all, axis=1)
    col_raw = np.where(obs & persons[:, None], x, 0.0).sum(axis=0)
    item_extreme = ["" if items[i] else ("none_correct" if col_raw[i] <= 0 else "all_correct")
                    for i in range(x.shape[1])]
    nan_items = ~items
    nan_persons = ~persons
    return RaschResult(
        item_difficulty=b, item_se=item_se,
        item_infit=np.where(nan_items, np.nan, i_in), item_outfit=np.where(nan_items, np.nan, i_out),
        item_infit_z=np.where(nan_items, np.nan, i_in_z), item_outfit_z=np.where(nan_items, np.nan, i_out_z),
        item_extreme=item_extreme, person_ability=theta, person_se=person_se,
        person_infit=np.where(nan_persons, np.nan, p_in), person_outfit=np.where(nan_persons, np.nan, p_out),
        person_extreme=person_extreme, iterations=iterations, converged=converged)
