#!/usr/bin/env python3
"""Fill English translations from a small TSV of ``chinese<TAB>english`` lines (for batches of new strings).

Usage: scripts/translate_en.py FILE.tsv — only empty entries of the en catalog are filled.
"""
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parents[1] / "app/translations/en/LC_MESSAGES/messages.po"


def main(tsv: str) -> None:
    pairs = {}
    for line in Path(tsv).read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            zh, en = line.split("\t", 1)
            pairs[zh] = en
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    filled = 0
    for message in catalog:
        if message.id and not message.string and message.id in pairs:
            message.string = pairs[message.id]
            filled += 1
    catalog.fuzzy = False
    with PO.open("wb") as fh:
        write_po(fh, catalog, sort_output=True, no_location=True)
    print(f"filled {filled}")


if __name__ == "__main__":
    main(sys.argv[1])
