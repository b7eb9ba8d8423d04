"""Text and number normalization for automatically scored answers.

Both rules here are applied by the scoring module to every fill-in-blank answer, so a student's
full-width digits, stray spaces or upper-case letters are judged the same way everywhere.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from decimal import Decimal, InvalidOperation

__all__ = [
    "normalize_text", "normalize_unit", "number_matches", "parse_decimal_with_unit", "parse_number_with_unit",
]

_WHITESPACE = re.compile(r"\s+")
_FLOAT_MAX = Decimal(sys.float_info.max)

# Superscripts would become plain digits under NFKC (10²³ -> 1023), so they are first rewritten as
# an explicit power (10^23).
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻"
_SUPERSCRIPT_RUN = re.compile(f"[{_SUPERSCRIPTS}]+")
_SUPERSCRIPT_PLAIN = str.maketrans(_SUPERSCRIPTS, "0123456789+-")

# Signs NFKC leaves alone but students type: the minus sign, dashes, and "times" symbols.
_SIGN_TRANSLATION = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00b7": "*", "\u22c5": "*"})

# mantissa, then an optional exponent written as e23, ×10^23, *10^23, x10^{23} or \times 10^{23}.
_NUMBER = re.compile(
    r"""
    (?P<mantissa>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
    (?:
        [eE](?P<e_exp>[+-]?\d+)
      | \s*(?:×|\*|x|X|\\times)\s*10\s*\^\s*
        (?:\{\s*(?P<b_exp>[+-]?\d+)\s*\}|\(\s*(?P<p_exp>[+-]?\d+)\s*\)|(?P<exp>[+-]?\d+))
    )?
    """,
    re.VERBOSE,
)


def normalize_text(s: str, case_sensitive: bool = False) -> str:
    """Return the comparable form of a text answer.

    Rule: apply Unicode NFKC (full-width letters, digits and punctuation become half-width, the
    ideographic space becomes a space), trim both ends, collapse every run of inner whitespace to one
    space, and case-fold unless ``case_sensitive`` is true. Two answers are the same when their
    normalized forms are equal.
    """
    text = unicodedata.normalize("NFKC", s)
    text = _WHITESPACE.sub(" ", text).strip()
    return text if case_sensitive else text.casefold()


def normalize_unit(unit: str) -> str:
    """Return the comparable form of a unit.

    Rule: NFKC (so ``s²`` reads as ``s2``), the minus sign read as ``-``, and every space, ``^``,
    brace and ``*``/``·`` removed; letter case is kept, because ``m`` (milli) and ``M`` (mega)
    differ. ``m/s^2``, ``m/s²`` and ``m / s^{2}`` are therefore the same unit.
    """
    text = unicodedata.normalize("NFKC", unit).translate(_SIGN_TRANSLATION)
    return re.sub(r"[\s^{}*]", "", text)


def parse_decimal_with_unit(s: str, unit: str | None) -> Decimal | None:
    """Read a numeric answer exactly, as a Decimal; the rule is that of parse_number_with_unit."""
    if not isinstance(s, str):
        return None
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPT_PLAIN), s)
    text = unicodedata.normalize("NFKC", text).translate(_SIGN_TRANSLATION).strip()
    match = _NUMBER.match(text)
    if match is None:
        return None
    rest = text[match.end():].strip()
    if rest and (unit is None or normalize_unit(rest) != normalize_unit(unit)):
        return None
    exponent = next(
        (match.group(g) for g in ("e_exp", "b_exp", "p_exp", "exp") if match.group(g) is not None), "0"
    )
    try:
        value = Decimal(match.group("mantissa")).scaleb(int(exponent))
    except (ArithmeticError, ValueError):  # InvalidOperation, decimal.Overflow
        return None
    if not value.is_finite() or abs(value) > _FLOAT_MAX:
        return None
    return value


def parse_number_with_unit(s: str, unit: str | None) -> float | None:
    """Read a student's numeric answer, or None when it is not an acceptable number.

    Rule: after NFKC (full-width digits and signs become half-width), the answer is a decimal
    number (``9.8``, ``-.5``), optionally with an exponent written ``6.02e23``, ``6.02×10^23``,
    ``6.02*10^23``, ``6.02×10²³``, ``6.02x10^{23}`` or ``6.02\\times10^{23}``, optionally
    followed by the unit. The unit may be left out, but if anything follows the number it must
    be ``unit`` (compared by normalize_unit); with ``unit=None`` nothing may follow. Thousands
    separators and decimal commas (``1,000``, ``9,8``, the Chinese comma ``，``) are refused,
    because ``1,5`` means 1.5 to some students and 15 to others. The exponent form is evaluated
    exactly, so ``6.02×10^23`` equals ``6.02e23``.
    """
    value = parse_decimal_with_unit(s, unit)
    return None if value is None else float(value)


def number_matches(s: str, value: float | str, tolerance: float | str = 0,
                   rel_tolerance: float | str = 0, unit: str | None = None) -> bool:
    """Tell whether a numeric answer is right.

    Rule: the answer is read by parse_number_with_unit (with ``unit``) and is right when
    ``|given − value| ≤ tolerance`` or ``|given − value| ≤ rel_tolerance × |value|``; both bounds
    are inclusive and computed exactly in Decimal, so 9.85 is within 0.05 of 9.8. With no
    tolerance only the exact value is right.
    """
    given = parse_decimal_with_unit(s, unit)
    if given is None:
        return False
    target, absolute, relative = (_exact(x) for x in (value, tolerance, rel_tolerance))
    error = abs(given - target)
    return error <= absolute or error <= relative * abs(target)


def _exact(number: float | str) -> Decimal:
    # str() first: Decimal(0.1) would carry the binary float's noise into the comparison.
    try:
        result = Decimal(str(number))
    except InvalidOperation:
        raise ValueError(f"not a number: {number!r}") from None
    if not result.is_finite() or isinstance(number, bool):
        raise ValueError(f"not a finite number: {number!r}")
    return result
