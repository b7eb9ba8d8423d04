"""The canonical form of a published result, its hash, the diff between versions, and masking.

A published ranking is fixed by the SHA-256 of its canonical CSV. The canonical CSV holds only
what identifies a result without naming anyone — exam number, league, attempt status, scores,
ranks, percentile and selection — so anonymizing students later never changes the hash.

Format (``CANONICAL_FORMAT``), UTF-8 without BOM, ``\\n`` line ends, RFC 4180 quoting when needed:
- line 1: ``# yingcai-results-v1``;
- line 2: the header ``exam_number,league,status,total,section:<name>…,rank,league_rank,school_rank,
  percentile,selection,step``, sections in paper order;
- then one line per attempt: ranked attempts by (rank, exam number), then the unranked (voided,
  absent, unfinished) by exam number. Scores and percentiles are written with exactly two
  decimals; a missing value is empty.
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CANONICAL_FORMAT", "CanonicalRow", "canonical_csv", "diff", "mask_exam_number", "mask_name",
           "parse_canonical", "sha256_text"]

CANONICAL_FORMAT = "yingcai-results-v1"
DIFF_FIELDS = ("status", "total", "rank", "league_rank", "school_rank", "selection")


@dataclass(frozen=True)
class CanonicalRow:
    """One attempt as the canonical CSV records it."""

    exam_number: str
    league_code: str | None
    status: str
    total: float | None
    sections: tuple[float | None, ...]
    rank: int | None
    league_rank: int | None
    school_rank: int | None
    percentile: float | None
    selection: str = ""  # admitted, reserve, not_admitted, ineligible; empty without a fixed selection
    step: str = ""  # league_minimum, overall or reserve


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _integer(value: int | None) -> str:
    return "" if value is None else str(int(value))


def _sort_key(row: CanonicalRow) -> tuple:
    return (row.rank is None, row.rank or 0, row.exam_number)


def canonical_csv(section_names: Sequence[str], rows: Iterable[CanonicalRow]) -> str:
    """Write rows in the canonical form (see the module docstring); the result is what gets hashed."""
    out = io.StringIO()
    out.write(f"# {CANONICAL_FORMAT}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["exam_number", "league", "status", "total", *(f"section:{n}" for n in section_names),
                     "rank", "league_rank", "school_rank", "percentile", "selection", "step"])
    for row in sorted(rows, key=_sort_key):
        if len(row.sections) != len(section_names):
            raise ValueError(f"row {row.exam_number} has {len(row.sections)} section scores, "
                             f"expected {len(section_names)}")
        writer.writerow([row.exam_number, row.league_code or "", row.status, _number(row.total),
                         *(_number(s) for s in row.sections), _integer(row.rank), _integer(row.league_rank),
                         _integer(row.school_rank), _number(row.percentile), row.selection, row.step])
    return out.getvalue()


def sha256_text(text: str) -> str:
    """The SHA-256 of a text's UTF-8 bytes, in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_canonical(text: str) -> dict[str, dict[str, str]]:
    """Read a canonical CSV back: exam number → {column: value}; a wrong format raises ValueError."""
    lines = text.split("\n", 1)
    if len(lines) < 2 or lines[0] != f"# {CANONICAL_FORMAT}":
        raise ValueError("not a canonical results CSV")
    reader = csv.DictReader(io.StringIO(lines[1]))
    return {row["exam_number"]: row for row in reader}


def diff(old_text: str | None, new_text: str) -> dict[str, Any]:
    """What moved between two published versions, by exam number.

    Returns ``{"changed": [{"exam_number", "fields": {field: [old, new]}}], "added": [...],
    "removed": [...]}`` over the fields of DIFF_FIELDS plus every section score; the first
    version (no old text) has an empty diff.
    """
    if old_text is None:
        return {"changed": [], "added": [], "removed": []}
    old, new = parse_canonical(old_text), parse_canonical(new_text)
    changed = []
    for number, row in new.items():
        before = old.get(number)
        if before is None:
            continue
        fields = {}
        for name in row:
            compared = name in DIFF_FIELDS or name.startswith("section:")
            if compared and before.get(name, "") != row[name]:
                fields[name] = [before.get(name, ""), row[name]]
        if fields:
            changed.append({"exam_number": number, "fields": fields})
    return {"changed": changed, "added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new))}


def mask_name(name: str) -> str:
    """A name for a public list: first and last character kept (张*彤, 乌**格), two characters → 张*."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_exam_number(number: str) -> str:
    """An exam number for a public list: the first four and last two characters kept."""
    number = number or ""
    if len(number) <= 6:
        return number[:1] + "*" * max(0, len(number) - 1)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]
