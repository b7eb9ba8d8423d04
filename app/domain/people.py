"""Rules for students' names, exam numbers and genders."""
from __future__ import annotations

import re
import unicodedata

# Han characters, Latin letters, the middle dot of transliterated Mongolian names (·, •, ・, ‧),
# spaces, apostrophes and hyphens; 1–64 characters.
_NAME = re.compile(r"^[\u3400-\u9fff\uf900-\ufaffA-Za-z][\u3400-\u9fff\uf900-\ufaffA-Za-z·•・‧'\- ]{0,63}$")
_EXAM_NUMBER = re.compile(r"^[0-9A-Za-z\-]{4,32}$")
GENDERS = {"男": "M", "女": "F", "M": "M", "F": "F", "m": "M", "f": "F", "male": "M", "female": "F", "": "U"}


def normalize_name(raw: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed, every middle-dot variant written as ·."""
    value = " ".join(unicodedata.normalize("NFKC", raw).split())
    for dot in "•・‧":
        value = value.replace(dot, "·")
    return value


def valid_name(name: str) -> bool:
    """A name of Han characters, Latin letters or a transliteration with ·, up to 64 characters."""
    return bool(_NAME.match(name))


def valid_exam_number(value: str) -> bool:
    """Exam numbers are 4–32 letters, digits or hyphens, kept as text (leading zeros matter)."""
    return bool(_EXAM_NUMBER.match(value))


def parse_gender(raw: str) -> str | None:
    """M, F or U (unknown) from 男/女/M/F/male/female; None when unrecognised."""
    return GENDERS.get(raw.strip(), GENDERS.get(raw.strip().lower()))
