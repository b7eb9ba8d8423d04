"""Text and number normalization of fill-in-blank answers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.textnorm import normalize_text, normalize_unit, number_matches, parse_number_with_unit

FULL_WIDTH = str.maketrans("0123456789.+-e", "０１２３４５６７８９．＋－ｅ")


@pytest.mark.parametrize(("raw", "expected"), [
    ("  氧气 ", "氧气"),
    ("ＡＢＣ", "abc"),  # full-width letters become half-width, then case-folded
    ("O2", "o2"),
    ("a\u3000\t b\n c", "a b c"),  # ideographic space and runs of whitespace collapse
    ("Straße", "strasse"),  # casefold, not just lower()
    ("", ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_case_sensitive_keeps_case_but_still_normalizes():
    assert normalize_text(" ＮａＣｌ  x ", case_sensitive=True) == "NaCl x"


@given(st.text())
def test_normalize_text_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@pytest.mark.parametrize(("raw", "unit", "expected"), [
    ("9.8", None, 9.8),
    ("9.8", "m/s^2", 9.8),  # the unit may be left out
    ("9.8 m/s^2", "m/s^2", 9.8),
    ("9.8m/s^2", "m/s^2", 9.8),
    ("9.8 m/s²", "m/s^2", 9.8),
    ("９．８", None, 9.8),
    ("９．８ ｍ/ｓ^2", "m/s^2", 9.8),
    ("6.02e23", None, 6.02e23),
    ("6.02E+23", None, 6.02e23),
    ("6.02×10^23", None, 6.02e23),
    ("6.02*10^23", None, 6.02e23),
    ("6.02 × 10^{23}", None, 6.02e23),
    ("6.02×10²³", None, 6.02e23),
    ("1.6×10^-19", None, 1.6e-19),
    ("−3", None, -3.0),  # the minus sign U+2212
    ("-.5", None, -0.5),
    ("+2", None, 2.0),
])
def test_parse_accepts(raw, unit, expected):
    assert parse_number_with_unit(raw, unit) == expected


@pytest.mark.parametrize(("raw", "unit"), [
    ("abc", None),
    ("", None),
    ("   ", None),
    ("1,000", None),  # thousands separator
    ("1，000", None),  # Chinese comma
    ("9,8", None),  # decimal comma
    ("9.8 kg", "m/s^2"),  # wrong unit
    ("9.8 m/s^2", None),  # a unit where none is expected
    ("9.8 M/s^2", "m/s^2"),  # unit letters keep their case
    ("1e999999", None),  # not a float
    ("nan", None),
    ("inf", None),
    ("9.8.1", None),
    ("×10^3", None),
])
def test_parse_refuses(raw, unit):
    assert parse_number_with_unit(raw, unit) is None


def test_parse_refuses_non_text():
    assert parse_number_with_unit(9.8, None) is None  # type: ignore[arg-type]


def test_normalize_unit():
    assert normalize_unit("m / s^{2}") == normalize_unit("m/s²") == "m/s2"
    assert normalize_unit("mA") != normalize_unit("MA")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_reads_every_float_repr_exactly(value):
    assert parse_number_with_unit(repr(value), None) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_full_width_digits_read_the_same(value):
    text = repr(value)
    assert parse_number_with_unit(text.translate(FULL_WIDTH), None) == parse_number_with_unit(text, None)


def test_number_matches_absolute_tolerance_is_inclusive_and_exact():
    # In binary floats |9.75 - 9.8| > 0.05; compared exactly, 9.75 is on the boundary and counts.
    assert abs(9.75 - 9.8) > 0.05
    assert number_matches("9.85", 9.8, tolerance=0.05)
    assert number_matches("9.75", 9.8, tolerance=0.05)
    assert not number_matches("9.8501", 9.8, tolerance=0.05)
    assert not number_matches("9.7499", 9.8, tolerance=0.05)


def test_number_matches_relative_tolerance():
    assert number_matches("6.0×10^23", 6.02e23, rel_tolerance=0.01)
    assert number_matches("6.0802e23", 6.02e23, rel_tolerance=0.01)  # exactly 1 %
    assert not number_matches("6.09e23", 6.02e23, rel_tolerance=0.01)


def test_number_matches_without_tolerance_needs_the_exact_value():
    assert number_matches("3", 3.0)
    assert number_matches("3.000", 3.0)
    assert not number_matches("3.0001", 3.0)


def test_number_matches_unit_and_garbage():
    assert number_matches("9.8 m/s^2", 9.8, 0.05, unit="m/s^2")
    assert not number_matches("9.8 N", 9.8, 0.05, unit="m/s^2")
    assert not number_matches("about ten", 10, 1)


@given(st.integers(-10**6, 10**6), st.integers(0, 1000))
def test_number_matches_agrees_with_integer_arithmetic(given_hundredths, tolerance_hundredths):
    text = f"{given_hundredths / 100:.2f}"
    expected = abs(given_hundredths - 500) <= tolerance_hundredths
    assert number_matches(text, 5, tolerance_hundredths / 100) == expected
