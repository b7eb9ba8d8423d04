"""The sample banks shipped in question_bank/ import without a single issue."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.questions import SUBJECTS
from app.formats.registry import EXPORTERS, IMPORTERS

BANKS = Path(__file__).resolve().parents[2] / "question_bank"


def subject_files(subject: str) -> dict[str, bytes]:
    folder = BANKS / subject
    return {p.relative_to(BANKS).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("subject", SUBJECTS)
def test_every_subject_ships_a_bank_that_parses_cleanly(subject):
    files = subject_files(subject)
    assert any(name.endswith(".yaml") for name in files), f"question_bank/{subject} has no .yaml bank"
    bank = IMPORTERS["yaml"].parse(files, subject=subject)
    assert [issue.message("en") for issue in bank.issues] == []
    assert [note.message("en") for note in bank.notes] == []  # no unused images, no stray files
    assert bank.questions and all(q["subject"] == subject for q in bank.questions)


@pytest.mark.parametrize("subject", SUBJECTS)
def test_every_shipped_bank_survives_a_round_trip(subject):
    bank = IMPORTERS["yaml"].parse(subject_files(subject), subject=subject)
    exported = EXPORTERS["yaml"].export(bank.questions, bank.images, subject=subject)
    assert exported.issues == []
    again = IMPORTERS["yaml"].parse(exported.files, subject=subject)
    assert again.issues == [] and again.images == bank.images
    # Export writes one file per topic, so only the order across files may change.
    assert sorted(again.questions, key=lambda q: q["key"]) == sorted(bank.questions, key=lambda q: q["key"])
