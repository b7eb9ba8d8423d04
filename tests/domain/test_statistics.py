"""Classical item analysis against published worked examples.

Sources:
- LSAT: Law School Admission Test, section 6, five items, 1,000 examinees (Bock & Lieberman 1970,
  Psychometrika 35:179-197), as the 32 response patterns with their frequencies. The item
  proportions, point-biserial correlations (with the total, item included and excluded), Cronbach's
  alpha (all items and with each item deleted) and the total-score frequencies are those printed by
  ``descript(LSAT)`` in Rizopoulos (2006), "ltm: An R package for latent variable modelling and item
  response theory analyses", Journal of Statistical Software 17(5); compared here to three decimals.
- KR-20: K. L. Wuensch, "The Kuder-Richardson 20" (East Carolina University, StatHelp KR20.txt):
  ten students, ten items, p and p·q per item, Σpq = 2.18, total-score variance 5.84, so
  KR-20 = 10/9 · (1 − 2.18/5.84) = 0.696.
- Upper-lower D: Kelley (1939), J. Educ. Psychol. 30:17-24, 27 % groups; D = (R_U − R_L)/n as in the
  classroom exercise "40 students, the upper 27 % (n = 11) has 9 right, the lower 27 % 3 right:
  D = 6/11 = 0.55".
- SEM: SD·√(1 − r) (Gulliksen 1950, Theory of Mental Tests, ch. 2): SD 10 and r = 0.84 give 4.0.
"""
from __future__ import annotations

import numpy as np
import pytest

from app.domain import statistics as st

LSAT_PATTERNS = {
    "00000": 3, "00001": 6, "00010": 2, "00011": 11, "00100": 1, "00101": 1, "00110": 3, "00111": 4,
    "01000": 1, "01001": 8, "01010": 0, "01011": 16, "01100": 0, "01101": 3, "01110": 2, "01111": 15,
    "10000": 10, "10001": 29, "10010": 14, "10011": 81, "10100": 3, "10101": 28, "10110": 15, "10111": 80,
    "11000": 16, "11001": 56, "11010": 21, "11011": 173, "11100": 11, "11101": 61, "11110": 28, "11111": 298,
}


@pytest.fixture(scope="module")
def lsat() -> np.ndarray:
    return np.array([[int(c) for c in pattern] for pattern, count in LSAT_PATTERNS.items() for _ in range(count)],
                    dtype=float)


def test_lsat_facility_and_score_frequencies(lsat):
    assert lsat.shape == (1000, 5)
    assert st.facility(lsat) == pytest.approx([0.924, 0.709, 0.553, 0.763, 0.870])
    d = st.describe(lsat.sum(axis=1), max_score=5, bins=6)
    assert d.counts == [3, 20, 85, 237, 357, 298]


def test_lsat_point_biserial_included_and_excluded(lsat):
    assert st.point_biserial(lsat, corrected=False) == pytest.approx([0.362, 0.567, 0.618, 0.534, 0.435], abs=1e-3)
    assert st.point_biserial(lsat) == pytest.approx([0.113, 0.153, 0.173, 0.144, 0.122], abs=1e-3)


def test_lsat_cronbach_alpha_and_alpha_if_deleted(lsat):
    assert st.cronbach_alpha(lsat) == pytest.approx(0.295, abs=1e-3)
    assert st.alpha_if_deleted(lsat) == pytest.approx([0.275, 0.238, 0.217, 0.246, 0.266], abs=1e-3)
    # On 0/1 items alpha and KR-20 are the same coefficient.
    assert st.kr20(lsat) == pytest.approx(st.cronbach_alpha(lsat))


WUENSCH = """
1 1 1 1 1 1 0 1 1 0
1 0 1 1 0 1 1 1 0 1
1 1 1 1 0 1 1 0 0 1
0 0 1 0 0 0 1 0 0 0
0 0 0 0 0 1 0 0 1 0
1 1 1 0 1 1 1 1 1 1
1 1 0 1 1 1 0 1 1 1
1 1 1 1 1 1 1 1 0 1
0 1 0 1 1 1 1 1 0 1
1 1 0 1 1 0 1 1 1 0
"""


def test_kr20_wuensch_worked_example():
    x = np.array([[int(v) for v in line.split()] for line in WUENSCH.strip().splitlines()], dtype=float)
    assert list(x.sum(axis=1)) == [8, 7, 7, 2, 2, 9, 8, 9, 7, 7]
    p = st.facility(x)
    assert p == pytest.approx([.7, .7, .6, .7, .6, .8, .7, .7, .5, .6])
    assert (p * (1 - p)).sum() == pytest.approx(2.18)
    assert x.sum(axis=1).var() == pytest.approx(5.84)
    assert st.kr20(x) == pytest.approx(10 / 9 * (1 - 2.18 / 5.84))
    assert round(st.kr20(x), 3) == 0.696


def test_kr20_refuses_partial_credit():
    with pytest.raises(ValueError):
        st.kr20([[0.5, 1], [0, 1]])


def test_upper_lower_d_classroom_example():
    """40 students with distinct totals; the item is right for 9 of the top 11 and 3 of the bottom 11."""
    totals = np.arange(40, dtype=float)[::-1]  # student 0 is the best
    item = np.zeros(40)
    item[[0, 1, 2, 3, 4, 5, 6, 7, 9]] = 1  # 9 of the top 11 (ranks 0..10)
    item[[30, 33, 36]] = 1  # 3 of the bottom 11 (ranks 29..39)
    item[[15, 20]] = 1  # middle students do not count
    upper, lower = st.group_weights(totals)
    assert upper.sum() == lower.sum() == 11
    d = st.upper_lower_discrimination(item[:, None], totals=totals)
    assert d[0] == pytest.approx(6 / 11)


def test_ties_at_the_group_boundary_share_the_places():
    """Ten students, 27 % → 3 places; four tie at the top: each counts 3/4, whatever their row order."""
    totals = np.array([9, 9, 9, 9, 5, 4, 3, 2, 1, 0], dtype=float)
    upper, lower = st.group_weights(totals)
    assert upper[:4] == pytest.approx([0.75] * 4) and upper[4:].sum() == 0
    assert lower[-3:] == pytest.approx([1, 1, 1]) and lower[:-3].sum() == 0
    item = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    shuffled = np.array([2, 0, 3, 1, 4, 5, 6, 7, 8, 9])
    assert st.upper_lower_discrimination(item[:, None], totals=totals)[0] == pytest.approx(0.5)
    assert st.upper_lower_discrimination(item[shuffled][:, None], totals=totals[shuffled])[0] == pytest.approx(0.5)


def test_standard_error_of_measurement():
    assert st.standard_error_of_measurement(10.0, 0.84) == pytest.approx(4.0)
    assert st.standard_error_of_measurement(10.0, 1.0) == 0.0
    assert np.isnan(st.standard_error_of_measurement(10.0, float("nan")))


def test_partial_credit_facility_and_alpha():
    """Facility is the mean fraction of credit; alpha works on points (alpha = KR-20 only for 0/1)."""
    points = np.array([[6, 3, 1], [3, 3, 0], [0, 0, 0], [6, 6, 1]], dtype=float)
    assert st.facility(points, [6, 6, 1]) == pytest.approx([15 / 24, 12 / 24, 2 / 4])
    k, item_var, total_var = 3, points.var(axis=0).sum(), points.sum(axis=1).var()
    assert st.cronbach_alpha(points) == pytest.approx(k / (k - 1) * (1 - item_var / total_var))


def test_describe():
    d = st.describe([0, 2, 2, 4, 7], max_score=10)
    assert (d.n, d.mean, d.median, d.minimum, d.maximum) == (5, 3.0, 2.0, 0.0, 7.0)
    assert d.sd == pytest.approx(np.std([0, 2, 2, 4, 7], ddof=1))
    assert sum(d.counts) == 5 and len(d.counts) == 10 and d.bin_edges[-1] == 10


def test_distractor_table_by_group_with_omissions_and_multiple_answers():
    totals = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], dtype=float)  # 3 upper, 3 lower, 4 middle
    choices = ["a", "a", "b", "a", None, "c", "b", ["a", "b"], "b", None]
    rows = {r.option: r for r in st.distractor_table(choices, ["a", "b", "c", "d"], ["a"], totals)}
    assert rows["a"].is_key and not rows["b"].is_key
    assert rows["a"].share == pytest.approx(0.4) and rows["a"].upper == pytest.approx(2 / 3)
    assert rows["a"].lower == pytest.approx(1 / 3)  # the ["a", "b"] answer names both options
    assert rows["b"].upper == pytest.approx(1 / 3) and rows["b"].lower == pytest.approx(2 / 3)
    assert rows["d"].count == 0
    assert rows[""].share == pytest.approx(0.2) and rows[""].middle == pytest.approx(1 / 4)


def test_option_curve_rises_for_the_key():
    totals = np.arange(100, dtype=float)
    choices = ["a" if t >= 50 else "b" for t in totals]
    curve = st.option_curve(choices, ["a", "b"], totals, groups=4)
    assert curve.shares["a"] == [0.0, 0.0, 1.0, 1.0]
    assert curve.group_means == sorted(curve.group_means)


def _flags(**kwargs):
    base = {"facility_p": 0.6, "discrimination": 0.4, "point_biserial_r": 0.4, "options": None, "n_students": 100}
    return {f.code for f in st.item_flags(**{**base, **kwargs})}


def test_flags_for_a_planted_wrong_key():
    """The key says 'a', but the best students choose 'b': the item discriminates negatively."""
    rng = np.random.default_rng(7)
    ability = rng.normal(size=400)
    truly_right = rng.random(400) < 1 / (1 + np.exp(-2 * ability))
    choices = np.where(truly_right, "b", rng.choice(["a", "c", "d"], size=400))
    scored = (choices == "a").astype(float)
    other = (rng.random((400, 9)) < 1 / (1 + np.exp(-ability[:, None]))).astype(float)
    matrix = np.column_stack([scored, other])
    totals = matrix.sum(axis=1)
    options = st.distractor_table(list(choices), ["a", "b", "c", "d", "e"], ["a"], totals)
    flags = st.item_flags(facility_p=float(scored.mean()), discrimination=float(st.upper_lower_discrimination(
        matrix, totals=totals)[0]), point_biserial_r=float(st.point_biserial(matrix)[0]), options=options,
        n_students=400)
    codes = [f.code for f in flags]
    assert codes[0] in ("negative_discrimination", "distractor_beats_key")
    assert {"negative_discrimination", "distractor_beats_key", "unused_distractor"} <= set(codes)
    beats = next(f for f in flags if f.code == "distractor_beats_key")
    assert beats.detail["option"] == "b"


def test_flags_easy_hard_low_and_clean():
    assert _flags() == set()
    assert _flags(facility_p=0.95) == {"too_easy"}
    assert _flags(facility_p=0.1) == {"too_hard"}
    assert _flags(point_biserial_r=0.05) == {"low_discrimination"}
    assert _flags(point_biserial_r=-0.2, discrimination=-0.1) == {"negative_discrimination"}
    assert _flags(point_biserial_r=-0.2, n_students=5) == set()
