"""The Moodle XML format's name and its size limits (see the package docstring).

Code in this package reads the limits through the package (``moodle_xml.MAX_...``), so setting them
there changes them everywhere; gift.py and excel.py import some of them by value.
"""

NAME = "moodle-xml"
MAX_XML_BYTES = 50_000_000  # refused before parsing
MAX_XML_DEPTH = 64  # Moodle XML nests about 6 deep
MAX_XML_ELEMENTS = 100_000  # about 2,500 questions of ~40 elements; parsing stays well within 2 s
MAX_ISSUES = 500  # per file; a hostile file must not produce an unbounded report
MAX_QUESTIONS = 5_000  # per file: validating one takes ~0.3 ms, so a file stays within ~2 s
MAX_ANSWERS = 50  # per question (a bank question has at most 12 options); more is refused unread
MAX_MARKUP_TAGS = 50_000  # HTML tags converted per file (HTMLParser needs ~10 µs per tag)
# Every element and every HTML tag starts with "<": a file with more of them than both limits allow
# is refused by counting bytes, before any parsing.
MAX_XML_TAGS = 2 * MAX_XML_ELEMENTS + MAX_MARKUP_TAGS
