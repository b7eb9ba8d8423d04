"""Rasch (JMLE) calibration against simulated data with known parameters and an independent estimator.

The independent implementation below is conditional maximum likelihood (Andersen 1972; Fischer &
Molenaar 1995, ch. 3): difficulties maximise the likelihood conditional on raw scores, computed from
elementary symmetric functions, with standard errors from the conditional information matrix
(a pseudo-inverse for the sum-zero constraint); abilities are then found by solving
Σ P = raw score with a root finder, and infit/outfit are summed cell by cell. It shares no code with
app/domain/rasch.py. With 40 items, JMLE with the (L − 1)/L correction and CMLE agree closely
(Wright & Douglas 1977), so SEs and fit mean squares must agree within 0.05.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from app.domain import rasch

N_STUDENTS, N_ITEMS = 2000, 40


def simulate(rng, n, difficulties, abilities=None, slopes=None):
    theta = rng.normal(0.0, 1.0, n) if abilities is None else abilities
    a = np.ones(len(difficulties)) if slopes is None else np.asarray(slopes)
    p = 1 / (1 + np.exp(-a[None, :] * (theta[:, None] - np.asarray(difficulties)[None, :])))
    return (rng.random(p.shape) < p).astype(float), theta


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20260614)
    b = np.linspace(-2.2, 2.2, N_ITEMS)
    rng.shuffle(b)
    x, theta = simulate(rng, N_STUDENTS, b)
    return x, b, theta, rasch.fit(x)


# --- the independent CMLE -------------------------------------------------------------------------

def _esf(eps):
    """Elementary symmetric functions γ_0..γ_L of eps."""
    g = np.zeros(len(eps) + 1)
    g[0] = 1.0
    for e in eps:
        g[1:] = g[1:] + e * g[:-1]
    return g


def _cml_gradient(b, item_scores, score_counts):
    eps = np.exp(-b)
    gamma = _esf(eps)
    grad = item_scores.astype(float).copy()  # gradient of −log L
    for i in range(len(b)):
        gamma_i = _esf(np.delete(eps, i))
        r = np.arange(1, len(b))
        grad[i] -= (score_counts[r] * eps[i] * gamma_i[r - 1] / gamma[r]).sum()
    return grad


def _cml_neg_loglik(b, item_scores, score_counts):
    gamma = _esf(np.exp(-b))
    r = np.arange(1, len(b))
    return float((item_scores * b).sum() + (score_counts[r] * np.log(gamma[r])).sum())


def cmle(x):
    """Item difficulties (centred) and their SEs by conditional ML; persons with 0 or L right drop out."""
    raw = x.sum(axis=1)
    keep = (raw > 0) & (raw < x.shape[1])
    x = x[keep]
    item_scores = x.sum(axis=0)
    score_counts = np.bincount(x.sum(axis=1).astype(int), minlength=x.shape[1] + 1).astype(float)
    start = -np.log(item_scores / (x.shape[0] - item_scores))
    res = optimize.minimize(_cml_neg_loglik, start - start.mean(), args=(item_scores, score_counts),
                            jac=_cml_gradient, method="BFGS", options={"gtol": 1e-8, "maxiter": 1000})
    b = res.x - res.x.mean()
    h = 1e-5
    info = np.array([(_cml_gradient(b + h * e, item_scores, score_counts)
                      - _cml_gradient(b - h * e, item_scores, score_counts)) / (2 * h) for e in np.eye(len(b))])
    # The information is singular along (1, …, 1) (only differences are identified): project that
    # direction out and invert the rest, which is the covariance under the sum-zero constraint.
    centre = np.eye(len(b)) - 1.0 / len(b)
    cov = np.linalg.pinv(centre @ ((info + info.T) / 2) @ centre, rcond=1e-6, hermitian=True)
    return b, np.sqrt(np.diag(cov))


def person_mle(b, raw_score):
    """The ability whose expected score on items b equals raw_score (0 < raw < L)."""
    return optimize.brentq(lambda t: sum(1 / (1 + math.exp(-(t - bi))) for bi in b) - raw_score, -15, 15)


def fit_by_cells(x, b, theta):
    """Item infit and outfit mean squares, summed one observation at a time."""
    n, n_items = x.shape
    infit, outfit = [], []
    for i in range(n_items):
        num = den = z2 = 0.0
        for v in range(n):
            p = 1 / (1 + math.exp(-(theta[v] - b[i])))
            w = p * (1 - p)
            num += (x[v, i] - p) ** 2
            den += w
            z2 += (x[v, i] - p) ** 2 / w
        infit.append(num / den)
        outfit.append(z2 / n)
    return np.array(infit), np.array(outfit)


# --- tests ----------------------------------------------------------------------------------------

def test_recovers_known_difficulties(simulated):
    _x, b, _, result = simulated
    assert result.converged
    estimate = result.item_difficulty - result.item_difficulty.mean()
    rmse = float(np.sqrt(np.mean((estimate - (b - b.mean())) ** 2)))
    assert rmse < 0.15, rmse
    assert np.corrcoef(result.person_ability, simulated[2])[0, 1] > 0.9


def test_agrees_with_an_independent_conditional_ml(simulated):
    x, _, _, result = simulated
    b_cml, se_cml = cmle(x)
    assert np.abs(result.item_difficulty - b_cml).max() < 0.05
    assert np.abs(result.item_se - se_cml).max() < 0.05
    # Fit from the CMLE difficulties and abilities found by root finding, cell by cell.
    raw = x.sum(axis=1)
    keep = (raw > 0) & (raw < x.shape[1])
    by_score = {r: person_mle(b_cml, r) for r in np.unique(raw[keep])}
    theta = np.array([by_score[r] for r in raw[keep]])
    infit, outfit = fit_by_cells(x[keep], b_cml, theta)
    assert np.abs(result.item_infit - infit).max() < 0.05
    assert np.abs(result.item_outfit - outfit).max() < 0.05


def test_small_sample_standard_errors_agree_with_conditional_ml():
    """300 students × 20 items: SEs near 0.13–0.2 logits, still within 0.05 of CMLE's."""
    rng = np.random.default_rng(3)
    x, _ = simulate(rng, 300, np.linspace(-1.5, 1.5, 20))
    result = rasch.fit(x)
    b_cml, se_cml = cmle(x)
    assert np.abs(result.item_difficulty - b_cml).max() < 0.05
    assert np.abs(result.item_se - se_cml).max() < 0.05
    assert se_cml.min() > 0.12


def test_fit_statistics_detect_misfitting_items():
    """A flat item (slope 0.3) underfits (MNSQ > 1.2); a steep one (slope 3) overfits (MNSQ < 0.8)."""
    rng = np.random.default_rng(11)
    slopes = np.ones(20)
    slopes[3], slopes[7] = 0.3, 3.0
    x, _ = simulate(rng, 1500, np.linspace(-1.5, 1.5, 20), slopes=slopes)
    result = rasch.fit(x)
    assert result.item_infit[3] > 1.2 and result.item_outfit[3] > 1.2 and result.item_infit_z[3] > 2
    assert result.item_infit[7] < 0.8 and result.item_infit_z[7] < -2
    others = np.delete(np.arange(20), [3, 7])
    assert np.all(np.abs(result.item_infit[others] - 1) < 0.15)


def test_bias_correction_is_l_minus_one_over_l(simulated):
    x, _, _, corrected = simulated
    raw = rasch.fit(x, bias_correction=False)
    assert corrected.item_difficulty == pytest.approx(raw.item_difficulty * (N_ITEMS - 1) / N_ITEMS)


def test_extreme_students_and_items_are_set_aside_and_reported():
    rng = np.random.default_rng(5)
    x, _ = simulate(rng, 200, np.linspace(-1, 1, 8))
    x[:, 0] = 1.0  # everybody right: no information about its difficulty
    x[0, :] = 1.0  # a perfect paper
    x[1, :] = 0.0  # a blank paper
    result = rasch.fit(x)
    assert result.item_extreme[0] == "all_correct" and np.isnan(result.item_difficulty[0])
    assert np.isnan(result.item_infit[0])
    assert result.person_extreme[0] == "all_correct" and result.person_extreme[1] == "none_correct"
    measured = np.array([e == "" for e in result.person_extreme])
    others = result.person_ability[measured]
    assert result.person_ability[0] > others.max() and result.person_ability[1] < others.min()
    assert np.isnan(result.person_infit[0]) and not np.isnan(result.person_infit[measured]).any()
    assert np.nanmean(result.item_difficulty) == pytest.approx(0.0, abs=1e-9)
    assert 0 < result.person_reliability < 1


def test_missing_responses_are_skipped():
    rng = np.random.default_rng(9)
    b = np.linspace(-1.5, 1.5, 15)
    x, _ = simulate(rng, 1500, b)
    holes = x.copy()
    holes[rng.random(x.shape) < 0.2] = np.nan
    result = rasch.fit(holes)
    assert np.sqrt(np.mean((result.item_difficulty - b) ** 2)) < 0.15


def test_refuses_non_binary_data():
    with pytest.raises(ValueError):
        rasch.fit([[0.5, 1], [0, 1]])
