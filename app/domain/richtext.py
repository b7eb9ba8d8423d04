"""Question rich text: the Markdown subset of docs/question-format.md turned into safe HTML.

The pipeline is the same for every entry point:

1. markdown-it-py parses the source with raw HTML switched off, so any ``<tag>`` an author (or an
   attacker with a bank file) writes is shown as text, never passed through.
2. Our render rules emit only the shapes the exam pages know: math as ``<span class="math-inline">`` /
   ``<div class="math-display">`` holding the *escaped TeX source* (the browser typesets it with the
   vendored KaTeX, see app/static/js/math.js), code fences as ``<pre><code class="language-x">``,
   links as their text only, images only from the bank's own ``images/`` folder through
   ``image_url``.
3. nh3 (ammonia) cleans the result against an explicit allowlist, as a second wall: whatever slips
   past the renderer still cannot carry a script, an event attribute or a non-local URL.
4. Only then are fill-in blanks (``{{1}}``) put in, so a blank renderer may emit form controls.

This module imports neither Flask nor SQLAlchemy; callers pass ``image_url`` to map a bank-relative
image path to a URL (``None`` when the bank has no such image).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

ImageUrl = Callable[[str], str | None]
BlankRenderer = Callable[[int], str]

__all__ = [
    "blank_markers",
    "default_blank",
    "no_images",
    "plain_text",
    "render",
    "render_cached",
    "render_inline",
    "stem_with_blanks",
]

# Fill-in-blank markers as written in stems: {{1}}, {{2}}, ...
_MARKER = re.compile(r"\{\{(\d{1,3})\}\}")
# Private-use characters stand in for blanks between rendering and sanitizing. They are removed from
# every input first, so an author cannot forge one.
_BLANK_OPEN, _BLANK_CLOSE = "\ue000", "\ue001"
_FORGEABLE = {ord(_BLANK_OPEN): None, ord(_BLANK_CLOSE): None}
_SENTINEL = re.compile(f"{_BLANK_OPEN}(\\d+){_BLANK_CLOSE}")

# An image reference an author may write: a file under the bank's images/ folder, nothing else.
_IMAGE_PATH = re.compile(r"images/[^\s\\?#:\x00-\x1f\x7f]+")
# A URL the page may load: site-relative or path-relative; no scheme, no //host, no backslash
# (browsers read "/\host" as "//host"), no whitespace or control characters.
_LOCAL_URL = re.compile(r"(?!//)(?![A-Za-z][A-Za-z0-9+.\-]*:)[^\s\\\x00-\x1f\x7f]+")
_LANG = re.compile(r"[a-z0-9_+#\-]{1,24}")
_LANG_CLASS = re.compile(r"language-[a-z0-9_+#\-]{1,24}")
_NUMBER = re.compile(r"[1-9][0-9]{0,3}")


def no_images(path: str) -> None:
    """An ``image_url`` for texts without a bank: every image shows the missing-image placeholder."""
    return


def default_blank(number: int) -> str:
    """The placeholder for blank ``number`` in a displayed stem: ``（1）`` in a marked span."""
    return f'<span class="blank" data-blank="{number}">（{number}）</span>'


# --- parsing -----------------------------------------------------------------------------------


def _chem_inline(state: StateInline, silent: bool) -> bool:
    """Bare ``\\ce{...}`` / ``\\pu{...}`` (mhchem) outside dollars is inline math as well.

    Chemistry authors write ``\\ce{H2O}`` in running text; treating it as math keeps Markdown from
    reading its ``_``, ``*`` or ``^`` as emphasis and lets KaTeX's mhchem typeset it.
    """
    src, start = state.src, state.pos
    if not src.startswith(("\\ce{", "\\pu{"), start):
        return False
    depth, i = 0, start + 3
    while i < state.posMax:
        char = src[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                break
        i += 1
    else:
        return False  # unbalanced braces: leave it as text
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = src[start : i + 1]
        token.markup = "\\ce"
    state.pos = i + 1
    return True


def _shape_tokens(state: StateCore) -> None:
    """Fit block structure into the page: headings start at h3, table alignment uses ``align``.

    The exam page owns h1/h2, so an author's ``#`` becomes ``<h3>``; markdown-it writes alignment as
    a ``style`` attribute, which the sanitizer does not allow.
    """
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 2, 6)}"
        elif token.type in ("th_open", "td_open") and token.attrs:
            style = str(token.attrs.pop("style", ""))
            if style.startswith("text-align:"):
                token.attrs["align"] = style.removeprefix("text-align:")


def _build_parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        # breaks: a newline in a stem is a line break. Chinese has no spaces between words, so the
        # CommonMark reading (a soft break shown as a space) would both join the author's lines and
        # put a stray space between two characters.
        {"html": False, "breaks": True, "linkify": False, "typographer": False},
    )
    md.enable("table")
    md.use(dollarmath_plugin, allow_labels=False, double_inline=True)
    md.inline.ruler.before("math_inline", "chem_inline", _chem_inline)
    md.core.ruler.push("shape_tokens", _shape_tokens)
    # Every link is shown as its text and every image goes through _render_image, so no URL from
    # the source reaches the output; accepting all of them here lets a rejected link vanish instead
    # of being shown as literal "[x](javascript:...)" text.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    rules = md.add_render_rule
    rules("text", _render_text)
    rules("link_open", _render_nothing)
    rules("link_close", _render_nothing)
    rules("image", _render_image)
    rules("fence", _render_fence)
    rules("math_inline", _render_math_inline)
    rules("math_inline_double", _render_math_display_inline)
    rules("math_block", _render_math_block)
    return md


# --- render rules (signature fixed by markdown-it: self, tokens, idx, options, env) ---------------


def _render_text(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    html = escapeHtml(tokens[idx].content)
    if env.get("blanks"):
        html = _MARKER.sub(lambda m: f"{_BLANK_OPEN}{int(m[1])}{_BLANK_CLOSE}", html)
    return html


def _render_nothing(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    return ""


def _render_image(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    token = tokens[idx]
    alt = _inline_plain(token.children or [])
    path = unquote(str(token.attrGet("src") or ""))
    if not _IMAGE_PATH.fullmatch(path) or any(p in ("", ".", "..") for p in path.split("/")):
        return '<span class="image-missing">[图片不可用 image not allowed: 只能引用题库 images/ 中的图片]</span>'
    url = env["image_url"](path)
    if not url or not _LOCAL_URL.fullmatch(url):
        return f'<span class="image-missing">[图片缺失 missing image: {escapeHtml(path)}]</span>'
    return f'<img src="{escapeHtml(url)}" alt="{escapeHtml(alt)}">'


def _render_fence(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip().split(maxsplit=1)
    lang = info[0].lower() if info else ""
    cls = f' class="language-{lang}"' if _LANG.fullmatch(lang) else ""
    return f"<pre><code{cls}>{escapeHtml(token.content)}</code></pre>\n"


def _render_math_inline(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    return f'<span class="math-inline">{escapeHtml(tokens[idx].content.strip())}</span>'


def _render_math_display_inline(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    # $$...$$ inside a paragraph: a <div> there would break the <p>, so a span that math.js typesets
    # in display mode (KaTeX's .katex-display is a block).
    return f'<span class="math-display">{escapeHtml(tokens[idx].content.strip())}</span>'


def _render_math_block(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    return f'<div class="math-display">{escapeHtml(tokens[idx].content.strip())}</div>\n'


# --- sanitizing --------------------------------------------------------------------------------


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Second check on the values of allowed attributes (ammonia already removed the rest)."""
    if attribute == "src":
        return value if _LOCAL_URL.fullmatch(value) else None
    if attribute == "class" and tag == "code":
        kept = [name for name in value.split() if _LANG_CLASS.fullmatch(name)]
        return " ".join(kept) or None
    if attribute in ("width", "height", "colspan", "rowspan"):
        return value if _NUMBER.fullmatch(value) else None
    if attribute == "align":
        return value if value in ("left", "center", "right") else None
    return value


_CLEANER = nh3.Cleaner(
    tags={
        "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li",
        "table", "thead", "tbody", "tr", "th", "td", "blockquote",
        "span", "div", "img", "sub", "sup", "hr", "h3", "h4", "h5", "h6",
    },  # fmt: skip
    attributes={
        "img": {"src", "alt", "width", "height"},
        "th": {"colspan", "rowspan", "align"},
        "td": {"colspan", "rowspan", "align"},
        "code": {"class"},
    },
    allowed_classes={
        "span": {"math-inline", "math-display", "image-missing"},
        "div": {"math-display"},
    },
    attribute_filter=_filter_attribute,
    url_schemes=set(),  # no absolute URL at all: only relative and /path survive
    link_rel=None,
    strip_comments=True,
)

_MD = _build_parser()


# --- public API --------------------------------------------------------------------------------


def render(text: str, *, image_url: ImageUrl) -> str:
    """Render a block of question text (stem, explanation, rubric) to sanitized HTML.

    ``image_url(path)`` maps a bank-relative ``images/...`` path to the URL the page should load,
    or ``None`` when the bank has no such image (a visible placeholder is shown instead).
    """
    env = {"image_url": image_url}
    return _CLEANER.clean(_MD.render(text.translate(_FORGEABLE), env))


def render_inline(text: str, *, image_url: ImageUrl = no_images) -> str:
    """Render a short text (an option, item or prompt) to sanitized HTML without a wrapping <p>.

    Only inline syntax applies (emphasis, code spans, math, images); a newline becomes ``<br>``.
    """
    env = {"image_url": image_url}
    return _CLEANER.clean(_MD.renderInline(text.translate(_FORGEABLE), env))


def stem_with_blanks(
    text: str, blank_renderer: BlankRenderer = default_blank, *, image_url: ImageUrl
) -> str:
    """Render a fill-in-blank stem, replacing each ``{{n}}`` marker by ``blank_renderer(n)``.

    Markers inside math or code are TeX or code (``x^{{2}}``), not blanks, and are left alone. The
    blank renderer runs after sanitizing, so it may emit form controls; it must escape anything it
    takes from elsewhere.
    """
    env = {"image_url": image_url, "blanks": True}
    html = _CLEANER.clean(_MD.render(text.translate(_FORGEABLE), env))
    return _SENTINEL.sub(lambda m: blank_renderer(int(m[1])), html)


def blank_markers(text: str) -> list[int]:
    """The blank numbers a stem marks, in order, counting only markers outside math and code.

    This is the reading stem_with_blanks() uses, so the importer can check ``blanks:`` against it.
    """
    numbers: list[int] = []
    for token in _MD.parse(text, {}):
        for child in token.children or []:
            if child.type == "text":
                numbers.extend(int(n) for n in _MARKER.findall(child.content))
    return numbers


@lru_cache(maxsize=4096)
def render_cached(text: str, images: tuple[tuple[str, str], ...] = ()) -> str:
    """render() memoised on the text and the bank's images.

    ``images`` is the bank's image map as sorted ``(path, url)`` pairs, e.g.
    ``tuple(sorted(urls.items()))``, so that it can be part of the cache key.
    """
    return render(text, image_url=dict(images).get)


def plain_text(text: str) -> str:
    """The text without markup, on one line, for list views and search.

    TeX is kept as source with its dollars (``$\\frac{1}{2}$``), code as its content, images as their
    alt text. The result is plain text, not HTML: templates escape it as usual.
    """
    parts: list[str] = []
    for token in _MD.parse(text, {}):
        if token.type == "inline":
            parts.append(_inline_plain(token.children or []))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
        elif token.type == "math_block":
            parts.append(f"$${token.content.strip()}$$")
    return " ".join(" ".join(parts).split())


def _inline_plain(tokens: Sequence[Token]) -> str:
    out: list[str] = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type == "math_inline":
            tex = token.content.strip()
            out.append(tex if token.markup == "\\ce" else f"${tex}$")
        elif token.type == "math_inline_double":
            out.append(f"$${token.content.strip()}$$")
        elif token.type == "image":
            out.append(_inline_plain(token.children or []))
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
    return "".join(out)
