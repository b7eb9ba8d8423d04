"""Chinese resident identity numbers (GB 11643-1999): checksum and masking."""
from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class NationalIdError(ValueError):
    """A national ID that fails the shape, date or checksum test; carries zh and en reasons."""

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def normalize(raw: str) -> str:
    """Trim, make full-width characters half-width and upper-case a trailing x."""
    trans = {ord("０") + i: ord("0") + i for i in range(10)}
    trans.update({ord("Ｘ"): ord("X"), ord("ｘ"): ord("X")})
    return raw.strip().translate(trans).replace(" ", "").upper()


def check_digit(first17: str) -> str:
    """The GB 11643 check character: Σ(digit × weight) mod 11 mapped through "10X98765432"."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def validate(raw: str) -> str:
    """Return the normalized 18-character ID, or raise ``NationalIdError`` saying what is wrong.

    The rule: 17 digits then a digit or X; positions 7–14 a real date of birth; the last
    character equals ``check_digit`` of the first 17.
    """
    value = normalize(raw)
    if len(value) != 18:
        raise NationalIdError("身份证号应为 18 位", "a national ID has 18 characters")
    if not _SHAPE.match(value):
        raise NationalIdError("身份证号只能由数字和末位 X 组成", "digits only, with an optional final X")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise NationalIdError("身份证号中的出生日期无效", "the date of birth in the ID is not a real date") from None
    if check_digit(value[:17]) != value[17]:
        raise NationalIdError("身份证号校验位错误", "the ID's check digit is wrong")
    return value


def mask(value: str) -> str:
    """Show only the first 6 and last 4 characters: ``150102********123X``."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]
