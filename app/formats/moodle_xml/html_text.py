"""HTML ↔ the bank's Markdown-like text: html_to_text (reading Moodle XML, also used by gift.py
and excel.py) and text_to_html (writing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from html.parser import HTMLParser

from app.formats.moodle_xml.shared import markdown_images

# --- HTML → the bank's Markdown-like text ---------------------------------------------------

# Private-use stand-ins while converting; removed from the input first so none can be forged.
_PARA, _BR, _BOLD, _ITAL, _RAW_OPEN, _RAW_CLOSE, _FENCE = (
    "\ue020", "\ue021", "\ue022", "\ue023", "\ue024", "\ue025", "\ue026")
_SENTINELS = {ord(c): None for c in (_PARA, _BR, _BOLD, _ITAL, _RAW_OPEN, _RAW_CLOSE, _FENCE)}
_SKIP_CONTENT = {"script", "style", "head", "title", "template", "iframe", "object", "embed",
                 "noscript", "svg", "math", "textarea", "select", "audio", "video", "canvas"}
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "table",
           "section", "article", "header", "footer", "figure", "figcaption", "hr", "center",
           "address", "dl", "form", "fieldset", "main", "nav", "aside"}
_MAX_MARKS = 32  # inline formatting nested deeper than this is kept as plain text
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_SIMPLE_SCRIPT = re.compile(r"[A-Za-z0-9+\-=.,()' ]*")
# The image callback: (src, alt) → a bank reference ``images/...`` or None to drop the image.
ImageResolver = Callable[[str, str], "str | None"]


class _HtmlToText(HTMLParser):
    """One pass over an HTML fragment, producing text with private-use stand-ins (see html_to_text)."""

    def __init__(self, image: ImageResolver | None) -> None:
        super().__init__(convert_charrefs=True)
        self.image = image
        self.out: list[str] = []
        self.skip = 0  # depth inside elements whose content is dropped
        self.pre = 0
        self.pre_open = -1  # where the current fence's opening line is in out
        self.marks: list[tuple[str, int]] = []  # open sub/sup/b/i/code and where they began
        self.open_count: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT:
            self.skip += 1
            return
        if self.skip:
            return
        if tag in _BLOCKS:
            self.out.append(_PARA)
        elif tag == "li":
            self.out.append(_BR + "- ")
        elif tag == "tr":
            self.out.append(_BR)
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "br":
            self.out.append(_BR)
        elif tag == "pre":
            self.pre += 1
            self.pre_open = len(self.out)
            self.out.append(_FENCE + _RAW_OPEN + "```\n")
            self._language(attrs)
        elif tag == "img":
            self._image(dict(attrs))
        elif tag == "code" and self.pre:
            self._language(attrs)
        elif tag in ("b", "strong", "i", "em", "sub", "sup", "code", "tt") and len(self.marks) < _MAX_MARKS:
            self.marks.append((tag, len(self.out)))
            self.open_count[tag] = self.open_count.get(tag, 0) + 1

    def _language(self, attrs: list[tuple[str, str | None]]) -> None:
        """A ``class="language-x"`` on <pre> or its <code> names the fence's language."""
        match = _LANGUAGE.search(dict(attrs).get("class") or "")
        if match and self.pre_open == len(self.out) - 1:
            self.out[self.pre_open] = _FENCE + _RAW_OPEN + f"```{match[1]}\n"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "img", "hr"):
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in _BLOCKS:
            self.out.append(_PARA)
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self.pre_open = -1
            self.out.append("\n```" + _RAW_CLOSE + _FENCE)
        elif self.open_count.get(tag):
            while self.marks:
                open_tag, start = self.marks.pop()
                self.open_count[open_tag] -= 1
                if open_tag == tag:
                    self._close_mark(tag, start)
                    break

    def _close_mark(self, tag: str, start: int) -> None:
        inner = "".join(self.out[start:])
        del self.out[start:]
        stripped = inner.strip(" ")
        if not stripped.strip():
            self.out.append(inner)
            return
        lead = " " if inner.startswith(" ") else ""
        trail = " " if inner.endswith(" ") else ""
        if tag in ("sub", "sup"):
            body = stripped if _SIMPLE_SCRIPT.fullmatch(stripped) else "\\text{" + stripped + "}"
            if "$" in stripped or any(c in stripped for c in _SENTINELS_CHARS):
                self.out.append(inner)  # already math or structured: keep the text as it is
                return
            self.out.append(f"{lead}{_RAW_OPEN}${'_' if tag == 'sub' else '^'}{{{body}}}${_RAW_CLOSE}{trail}")
        elif tag in ("code", "tt"):
            if self.pre:
                self.out.append(inner)
            else:
                self.out.append(f"{lead}{_RAW_OPEN}`{stripped}`{_RAW_CLOSE}{trail}")
        else:
            mark = _BOLD if tag in ("b", "strong") else _ITAL
            if stripped.startswith(mark) and stripped.endswith(mark) and len(stripped) > 1:
                mark = ""  # <b><b>x</b></b> is bold once
            self.out.append(f"{lead}{mark}{stripped}{mark}{trail}")

    def _image(self, attrs: dict[str, str | None]) -> None:
        src, alt = (attrs.get("src") or "").strip(), " ".join((attrs.get("alt") or "").split())
        ref = self.image(src, alt) if self.image else None
        if ref:
            alt = alt.replace("[", "").replace("]", "")
            self.out.append(f"{_RAW_OPEN}![{alt}]({ref}){_RAW_CLOSE}")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = data.translate(_SENTINELS)
        if self.pre:
            self.out.append(data)
        else:
            self.out.append(_HTML_SPACE.sub(" ", data.replace("\xa0", " ")))


_SENTINELS_CHARS = (_PARA, _BR, _BOLD, _ITAL, _RAW_OPEN, _RAW_CLOSE, _FENCE)
_LANGUAGE = re.compile(r"(?:^|\s)language-([a-z0-9_+#-]{1,24})(?:\s|$)")


def _convert_math_and_escape(text: str) -> str:
    """Outside raw spans: ``\\(..\\)`` → ``$..$``, ``\\[..\\]`` → ``$$..$$``; a ``*`` outside math
    is escaped (``\\*``) so that it stays a star. One left-to-right scan: a closer that was not
    found is remembered, so the scan stays linear."""
    out: list[str] = []
    i, n = 0, len(text)
    cache: dict[str, tuple[int, int]] = {}  # needle → (searched from, found at or -1)

    def find(needle: str, start: int) -> int:
        # The next occurrence at or after ``start``; i only grows, so each needle is scanned once.
        if needle in cache:
            since, pos = cache[needle]
            if since <= start and (pos < 0 or pos >= start):
                return pos
        pos = text.find(needle, start)
        cache[needle] = (start, pos)
        return pos

    while i < n:
        found = _CONVERT_JUMP.search(text, i)
        if found is None:
            out.append(text[i:])
            break
        out.append(text[i:found.start()])
        i = found.start()
        ch = text[i]
        if ch == _RAW_OPEN:
            end = find(_RAW_CLOSE, i)
            end = n if end < 0 else end
            out.append(text[i + 1:end])
            i = end + 1
            continue
        done = False
        if ch in "\\$":
            for opener, closer, new_open in _MATH_PAIRS:
                if not text.startswith(opener, i) or (opener == "$" and i and text[i - 1] == "\\"):
                    continue
                end = find(closer, i + len(opener))
                raw = find(_RAW_OPEN, i)
                if end >= 0 and (raw < 0 or raw > end):
                    body = text[i + len(opener):end].strip()
                    if body:
                        out.append(new_open + body + new_open)
                        i = end + len(closer)
                        done = True
                        break
        if not done:
            out.append("\\*" if ch == "*" else ch)
            i += 1
    return "".join(out)


_CONVERT_JUMP = re.compile("[\ue024\\\\$*]")  # what _convert_math_and_escape acts on
_MATH_PAIRS = (("\\(", "\\)", "$"), ("\\[", "\\]", "$$"), ("$$", "$$", "$$"), ("$", "$", "$"))


def html_to_text(fragment: str, image: ImageResolver | None = None) -> str:
    """An HTML fragment as the bank's Markdown-like text.

    Kept: paragraphs (blank line), ``<br>`` (newline), bold ``**x**``, italic ``*x*``, ``<sub>`` /
    ``<sup>`` as math ``$_{x}$`` / ``$^{x}$``, code (backticks, ``<pre>`` as a fenced block), list
    items as ``- ``, images as ``![alt](images/...)`` when ``image(src, alt)`` gives a reference,
    TeX as ``$...$`` / ``$$...$$`` (``\\(..\\)`` and ``\\[..\\]`` are converted). Script, style and
    similar elements are dropped with their content; every other tag is removed and its text kept.
    """
    parser = _HtmlToText(image)
    parser.feed(fragment.translate(_SENTINELS))
    parser.close()
    while parser.marks:  # unclosed inline tags: close them where the text ends
        tag, start = parser.marks.pop()
        parser._close_mark(tag, start)
    if parser.pre:
        parser.out.append("\n```" + _RAW_CLOSE)
    text = _convert_math_and_escape("".join(parser.out))
    text = text.replace(_BOLD, "**").replace(_ITAL, "*")
    # Spaces around line breaks go; a paragraph or two breaks make one blank line; a code fence
    # stands on its own lines (a fence needs no blank line around it).
    pieces = re.split(r"([\ue020\ue021\ue026][ \ue020\ue021\ue026]*)", text)
    for k in range(0, len(pieces), 2):
        piece = pieces[k].rstrip(" ") if k + 1 < len(pieces) else pieces[k]
        pieces[k] = piece.lstrip(" ") if k else piece
    for k in range(1, len(pieces), 2):
        breaks = pieces[k].replace(" ", "")
        pieces[k] = "\n" if _FENCE in breaks else "\n\n" if _PARA in breaks or len(breaks) > 1 else "\n"
    text = "".join(pieces)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


# --- the bank's text → HTML ------------------------------------------------------------------

_BOLD_MD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.DOTALL)
_ITAL_MD = re.compile(r"(?<![\\*])\*(?=[^\s*])([^*\n]*?[^\s*\\]|[^\s*\\])\*(?!\*)")


def _plain_html(text: str) -> str:
    html = escape(text, quote=False)
    html = _BOLD_MD.sub(r"<b>\1</b>", html)
    html = _ITAL_MD.sub(r"<i>\1</i>", html)
    return html.replace("\\*", "*").replace("\n", "<br>")


def _inline_html(text: str, image_src: Callable[[str], str]) -> str:
    """Inline conversion: math and code kept verbatim (escaped), images to ``<img>``."""
    out: list[str] = []
    plain_start = i = 0
    n = len(text)
    images = {start: (end, alt, target) for start, end, alt, target in markdown_images(text)
              if target.startswith("images/")}

    def flush(upto: int) -> None:
        if upto > plain_start:
            out.append(_plain_html(text[plain_start:upto]))

    while i < n:
        ch = text[i]
        span = None
        if ch == "\\" and text.startswith(("\\(", "\\["), i):
            end = text.find("\\)" if text[i + 1] == "(" else "\\]", i + 2)
            span = (end + 2, escape(text[i:end + 2], quote=False)) if end >= 0 else None
        elif ch == "\\" and i + 1 < n:
            i += 2  # an escaped character belongs to the plain text
            continue
        elif ch == "$":
            opener = "$$" if text.startswith("$$", i) else "$"
            end = text.find(opener, i + len(opener))
            if end > i + len(opener):
                body = escape(text[i + len(opener):end], quote=False)
                span = (end + len(opener), f"\\({body}\\)" if opener == "$" else f"$${body}$$")
        elif ch == "`":
            end = text.find("`", i + 1)
            if end > i:
                span = (end + 1, f"<code>{escape(text[i + 1:end], quote=False)}</code>")
        elif ch == "!" and i in images:
            end, alt, target = images[i]
            span = (end, f'<img src="{escape(image_src(target))}" alt="{escape(alt)}">')
        if span is None:
            i += 1
            continue
        flush(i)
        out.append(span[1])
        i = plain_start = span[0]
    flush(n)
    return "".join(out)


def text_to_html(text: str, image_src: Callable[[str], str] = lambda ref: ref) -> str:
    """The bank's Markdown-like text as simple HTML, the inverse of html_to_text for the shapes it
    keeps: blank lines → ``<p>``, newlines → ``<br>``, ``**x**`` → ``<b>``, ``*x*`` → ``<i>``,
    fenced code → ``<pre>``, ``$x$`` → ``\\(x\\)`` (Moodle's default TeX delimiters), ``$$x$$``
    kept, images → ``<img src=image_src(ref)>``."""
    blocks: list[str] = []
    lines = text.split("\n")
    para: list[str] = []
    i = 0

    def end_para() -> None:
        chunk = "\n".join(para).strip("\n")
        para.clear()
        for piece in re.split(r"\n[ \t]*\n+", chunk):
            if piece.strip():
                blocks.append(f"<p>{_inline_html(piece, image_src)}</p>")

    while i < len(lines):
        if lines[i].startswith("```"):
            close = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if close is not None:
                end_para()
                code = escape("\n".join(lines[i + 1:close]), quote=False)
                language = _LANGUAGE.search("language-" + lines[i][3:].strip())
                attrs = f' class="language-{language[1]}"' if language else ""
                blocks.append(f"<pre><code{attrs}>{code}</code></pre>")
                i = close + 1
                continue
        para.append(lines[i])
        i += 1
    end_para()
    return "".join(blocks)

