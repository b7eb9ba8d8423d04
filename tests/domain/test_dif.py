"""Mantel–Haenszel DIF: the statistic against a published worked example, the ETS classes, and a planted DIF item.

Worked example: the Chinese smoking and lung-cancer case-control tables of eight cities (Liu 1992,
reproduced in Agresti 1996, An Introduction to Categorical Data Analysis, Table 3.3). SAS PROC FREQ
with the CMH option (Stanford ED257 course notes, "SAS file for CMH analysis of Chinese smoking
data") reports the Mantel–Haenszel common odds ratio 2.174 and the CMH statistic 280.138 (SAS's CMH
statistic has no continuity correction).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.domain import dif

# (smoker & cancer, smoker & control, non-smoker & cancer, non-smoker & control) per city.
CHINA_SMOKING = [
    (126, 100, 35, 61),  # Beijing
    (908, 688, 497, 807),  # Shanghai
    (913, 747, 336, 598),  # Shenyang
    (235, 172, 58, 121),  # Nanjing
    (402, 308, 121, 215),  # Harbin
    (182, 156, 72, 98),  # Zhengzhou
    (60, 99, 11, 43),  # Taiyuan
    (104, 89, 21, 36),  # Nanchang
]


def test_mantel_haenszel_matches_the_published_example():
    result = dif.mantel_haenszel(CHINA_SMOKING, continuity=False)
    assert result.alpha == pytest.approx(2.174, abs=5e-4)
    assert result.chi2 == pytest.approx(280.138, abs=5e-3)
    assert result.delta == pytest.approx(-2.35 * math.log(result.alpha))
    assert result.p_value < 1e-10
    corrected = dif.mantel_haenszel(CHINA_SMOKING)
    assert corrected.chi2 < result.chi2


def test_robins_breslow_greenland_se_reduces_to_woolf_for_one_table():
    """With one stratum, the RBG variance of ln α is Woolf's 1/a + 1/b + 1/c + 1/d."""
    a, b, c, d = 40, 20, 25, 35
    result = dif.mantel_haenszel([(a, b, c, d)])
    assert result.alpha == pytest.approx(a * d / (b * c))
    assert result.log_alpha_se == pytest.approx(math.sqrt(1 / a + 1 / b + 1 / c + 1 / d))
    assert result.delta_se == pytest.approx(2.35 * result.log_alpha_se)


@pytest.mark.parametrize("delta, se, p, expected", [
    (0.5, 0.1, 0.001, "A"),  # small
    (1.2, 0.3, 0.20, "A"),  # not significant
    (1.2, 0.1, 0.001, "B"),
    (-1.7, 0.5, 0.001, "B"),  # large but not significantly above 1 (0.7/0.5 = 1.4 < 1.645)
    (-1.7, 0.2, 0.001, "C"),
    (2.5, 0.3, 0.001, "C"),
])
def test_ets_classes(delta, se, p, expected):
    assert dif.ets_class(delta, se, p) == expected


def simulate(seed, n_per_group, difficulties, dif_item=None, dif_size=0.0, focal_shift=-0.5):
    """Two-group (or many-group) Rasch data; ``dif_size`` logits harder for the focal group on ``dif_item``."""
    rng = np.random.default_rng(seed)
    groups, rows = [], []
    for g, n in n_per_group.items():
        theta = rng.normal(focal_shift if g != "ref" else 0.0, 1.0, n)
        b = np.tile(difficulties, (n, 1))
        if dif_item is not None and g == "focal":
            b[:, dif_item] += dif_size
        p = 1 / (1 + np.exp(-(theta[:, None] - b)))
        rows.append((rng.random(p.shape) < p).astype(float))
        groups += [g] * n
    return np.vstack(rows), groups


def test_planted_dif_is_class_c_and_clean_items_are_class_a():
    b = np.linspace(-1.5, 1.5, 20)
    x, groups = simulate(42, {"ref": 2000, "focal": 1000}, b, dif_item=6, dif_size=1.0)
    results = dif.dif_by_group(x, groups)
    focal = results["focal"]
    assert focal[6].ets_class == "C" and focal[6].delta < -1.5
    assert [r.ets_class for i, r in enumerate(focal) if i != 6] == ["A"] * 19
    # Comparing the reference group against everyone else mirrors the sign.
    assert results["ref"][6].delta == pytest.approx(-focal[6].delta, abs=1e-9)


def test_per_league_comparison_flags_only_the_league_with_dif():
    b = np.linspace(-1.2, 1.2, 15)
    x, groups = simulate(8, {"ref": 1200, "focal": 600, "other": 600}, b, dif_item=2, dif_size=1.2, focal_shift=0.0)
    results = dif.dif_by_group(x, ["150100" if g == "ref" else "150200" if g == "focal" else "150300"
                                   for g in groups])
    assert results["150200"][2].ets_class == "C" and results["150200"][2].delta < 0
    # Each league is compared with all the others, so the planted item shows, mirrored, in the rest.
    for league in ("150100", "150200", "150300"):
        assert dif.worst_class([r for i, r in enumerate(results[league]) if i != 2]) == "A", league
    assert results["150100"][2].delta > 0 and results["150300"][2].delta > 0


def test_too_small_a_group_gets_no_class():
    b = np.linspace(-1, 1, 10)
    x, groups = simulate(1, {"ref": 400, "focal": 99}, b)
    small = dif.dif_by_group(x, groups)["focal"]
    assert {r.ets_class for r in small} == {None} and all(np.isfinite(r.delta) for r in small)
    assert {r.ets_class for r in dif.dif_by_group(x, groups, min_group=50)["focal"]} <= {"A", "B", "C"}


def test_strata_tables_count_right_and_wrong_per_total():
    tables = dif.strata_tables([1, 0, 1, 1, 0, 0], [False, False, True, True, True, False], [2, 2, 2, 1, 1, 1])
    assert tables == [(0, 1, 1, 1), (1, 1, 1, 0)]
