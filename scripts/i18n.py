#!/usr/bin/env python3
"""Translation catalogs: ``extract`` (template + update both catalogs), ``compile``, ``check``.

Source strings are Chinese (zh_CN is the default language), so the zh_CN catalog maps each
string to itself and the en catalog carries the English. ``check`` fails on any string missing
from a catalog, untranslated, fuzzy or no longer used (stale).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "app" / "translations"
LOCALES = ("zh_CN", "en")
KEYWORDS = ["-k", "_l", "-k", "lazy_gettext", "-k", "N_"]


def _pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _extract(pot: Path) -> None:
    _pybabel("extract", "-F", "babel.cfg", *KEYWORDS, "--no-location", "--sort-output", "--omit-header",
             "-o", str(pot), ".")


def extract() -> None:
    """Refresh the template and merge it into both catalogs (zh_CN entries filled with themselves)."""
    pot = TRANSLATIONS / "messages.pot"
    _extract(pot)
    for locale in LOCALES:
        _pybabel("update", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", locale, "--no-fuzzy-matching",
                 "--ignore-obsolete")
    for locale in LOCALES:
        path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        catalog.fuzzy = False
        catalog.project, catalog.version = "yingcai", "1"
        catalog.revision_date = catalog.creation_date  # stable headers: no churn in diffs
        for message in catalog:
            if locale == "zh_CN" and message.id and not message.string:
                message.string = message.id
        with path.open("wb") as fh:
            write_po(fh, catalog, sort_output=True, no_location=True, omit_header=False)


def compile_catalogs() -> None:
    """Write the .mo files the app loads."""
    _pybabel("compile", "-d", str(TRANSLATIONS))


def check() -> int:
    """List missing, untranslated, fuzzy and stale entries; return the number of problems."""
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        _extract(pot)
        with pot.open("rb") as fh:
            wanted = {m.id for m in read_po(fh) if m.id}
    problems = 0
    for locale in LOCALES:
        with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        have = {m.id: m for m in catalog if m.id}
        for msgid in sorted(wanted - have.keys()):
            print(f"{locale}: missing {msgid!r}")
            problems += 1
        for msgid in sorted(have.keys() - wanted):
            print(f"{locale}: stale {msgid!r}")
            problems += 1
        for msgid, message in have.items():
            if msgid in wanted and (not message.string or message.fuzzy):
                print(f"{locale}: untranslated {msgid!r}")
                problems += 1
    return problems


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "extract":
        extract()
    elif command == "compile":
        compile_catalogs()
    elif command == "check":
        sys.exit(1 if check() else 0)
    else:
        sys.exit("usage: scripts/i18n.py extract|compile|check")
