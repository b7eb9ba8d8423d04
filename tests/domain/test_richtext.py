"""Question rich text: Markdown subset → safe HTML (app/domain/richtext.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from app.domain import richtext

IMAGES = {
    "images/x.svg": "/bank/7/images/x.svg",
    "images/电路图.png": "/bank/7/images/%E7%94%B5%E8%B7%AF%E5%9B%BE.png",
}


def render(text: str) -> str:
    return richtext.render(text, image_url=IMAGES.get)


def stem(text: str) -> str:
    return richtext.stem_with_blanks(text, image_url=IMAGES.get)


def inline(text: str) -> str:
    return richtext.render_inline(text, image_url=IMAGES.get)


# --- what the parsed output may contain --------------------------------------------------------

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "table", "thead", "tbody", "tr",
    "th", "td", "blockquote", "span", "div", "img", "sub", "sup", "hr", "h3", "h4", "h5", "h6",
}  # fmt: skip
# data-blank: put in by the default blank renderer, after sanitizing.
ALLOWED_ATTRIBUTES = {"class", "src", "alt", "width", "height", "colspan", "rowspan", "align", "data-blank"}
LOCAL_URL = re.compile(r"/(?![/\\])[^\s\\]*|(?![A-Za-z][A-Za-z0-9+.\-]*:)(?!/)[^\s\\]+")


class _Elements(HTMLParser):
    """Collects (tag, attributes) of every element, with entities already decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.elements


def assert_inert(html: str) -> None:
    """No script, frame, event handler or non-local URL can survive in ``html``."""
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<iframe" not in lowered
    assert "<svg" not in lowered and "<math" not in lowered and "<style" not in lowered
    # Inside any tag: no event attribute (looked for outside the quoted values, which nh3 always
    # double-quotes), and no javascript: / data: / vbscript: anywhere, values included.
    for tag in re.findall(r"<[^>]*>", html):
        names = re.sub(r'"[^"]*"', '""', tag)
        assert not re.search(r"[\s/'\"]on[a-z]+\s*=", names, re.IGNORECASE), tag
        assert not re.search(r"javascript:|vbscript:|data:", tag, re.IGNORECASE), tag
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES, (tag, name)
            squeezed = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            assert "javascript:" not in squeezed and "data:" not in squeezed
            if name == "src":
                assert tag == "img" and LOCAL_URL.fullmatch(value or ""), value


# --- math --------------------------------------------------------------------------------------


def test_inline_formula_becomes_math_span_with_tex_intact():
    html = render(r"由 $\frac{1}{2}mv^2 = mgh$ 得")
    assert html == r'<p>由 <span class="math-inline">\frac{1}{2}mv^2 = mgh</span> 得</p>' + "\n"


def test_mhchem_inside_dollars_keeps_its_arrow():
    html = render(r"$\ce{2H2 + O2 -> 2H2O}$")
    assert r'<span class="math-inline">\ce{2H2 + O2 -&gt; 2H2O}</span>' in html


def test_bare_ce_is_math_and_markdown_does_not_touch_it():
    html = render(r"反应 \ce{CuSO4*5H2O} 与 \pu{1.2 mol*L-1} 中 *强调*")
    assert r'<span class="math-inline">\ce{CuSO4*5H2O}</span>' in html
    assert r'<span class="math-inline">\pu{1.2 mol*L-1}</span>' in html
    assert "<em>强调</em>" in html


def test_display_block_and_inline_double_dollars():
    html = render("前\n\n$$\n\\int_0^1 x\\,dx < 1\n$$\n\n中 $$a_1 + a_2$$ 后")
    assert '<div class="math-display">\\int_0^1 x\\,dx &lt; 1</div>' in html
    # $$ inside a paragraph stays a span so the <p> is not broken; math.js typesets it as display.
    assert '<p>中 <span class="math-display">a_1 + a_2</span> 后</p>' in html


def test_markdown_inside_math_is_not_interpreted():
    html = render(r"$a_1 * b_2 * c$ and $x < y > z$")
    assert r'<span class="math-inline">a_1 * b_2 * c</span>' in html
    assert '<span class="math-inline">x &lt; y &gt; z</span>' in html
    assert "<em>" not in html


# --- code, tables, structure --------------------------------------------------------------------


def test_code_fence_is_escaped_with_language_class():
    html = render('```python\nif a < b and "x" > y:\n    print("<b>&</b>")\n```')
    assert html == (
        '<pre><code class="language-python">if a &lt; b and "x" &gt; y:\n'
        '    print("&lt;b&gt;&amp;&lt;/b&gt;")\n</code></pre>\n'
    )


def test_code_fence_language_cannot_inject_attributes():
    html = render('```py" onmouseover="alert(1)\nx = 1\n```')
    assert html.startswith("<pre><code>x = 1")
    assert_inert(html)


def test_pipe_table_with_alignment():
    html = render("| 物理量 | 数值 |\n|:--|--:|\n| $g$ | 9.8 |\n")
    assert "<table>" in html and "<thead>" in html and "<tbody>" in html
    assert '<th align="left">物理量</th>' in html
    assert '<td align="right">9.8</td>' in html
    assert '<td align="left"><span class="math-inline">g</span></td>' in html


def test_headings_start_below_the_page_headings():
    html = render("# 一\n## 二\n#### 四")
    assert "<h3>一</h3>" in html and "<h4>二</h4>" in html and "<h6>四</h6>" in html


def test_lists_quotes_emphasis_and_line_breaks():
    html = render("> 引用\n\n1. 甲\n2. **乙**\n\n第一行\n第二行")
    assert "<blockquote>" in html and "<ol>" in html and "<strong>乙</strong>" in html
    assert "第一行<br>\n第二行" in html


def test_raw_html_is_shown_as_text():
    html = render("<b>粗</b> <sub>2</sub>")
    assert html == "<p>&lt;b&gt;粗&lt;/b&gt; &lt;sub&gt;2&lt;/sub&gt;</p>\n"


def test_links_show_only_their_text():
    html = render("见 [教材](https://example.org/x) 与 <https://example.org/y>")
    assert html == "<p>见 教材 与 https://example.org/y</p>\n"


# --- images ------------------------------------------------------------------------------------


def test_image_goes_through_image_url():
    html = render("![斜面示意图](images/x.svg)")
    assert html == '<p><img src="/bank/7/images/x.svg" alt="斜面示意图"></p>\n'


def test_image_with_non_ascii_name_is_looked_up_by_its_written_path():
    html = render("![](images/电路图.png)")
    assert '<img src="/bank/7/images/%E7%94%B5%E8%B7%AF%E5%9B%BE.png" alt="">' in html


def test_missing_image_shows_placeholder_not_a_broken_link():
    html = render("![图](images/none.svg)")
    assert "<img" not in html
    assert '<span class="image-missing">[图片缺失 missing image: images/none.svg]</span>' in html


@pytest.mark.parametrize(
    "ref",
    [
        "https://example.org/x.png",
        "http://10.0.0.1/x.png",
        "//example.org/x.png",
        "/etc/passwd",
        "images/../../secret.png",
        "x.svg",
        "file:///etc/passwd",
    ],
)
def test_only_bank_images_are_referenced(ref):
    seen: list[str] = []
    html = richtext.render(f"![a]({ref})", image_url=lambda p: seen.append(p) or "/ok.png")
    assert "<img" not in html and 'class="image-missing"' in html
    assert seen == []


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://cdn.example/x.svg", "//evil/x.svg", "/\\evil/x", "a b"]
)
def test_a_non_local_url_from_image_url_is_not_used(url):
    html = richtext.render("![a](images/x.svg)", image_url=lambda p: url)
    assert "<img" not in html and "missing image: images/x.svg" in html


def test_image_alt_is_escaped():
    html = render('![a" onerror="alert(1)](images/x.svg)')
    assert_inert(html)
    assert 'alt="a&quot; onerror=&quot;alert(1)"' in html


# --- short texts, plain text, caching ----------------------------------------------------------


def test_render_inline_has_no_paragraph():
    assert inline(r"$\sqrt{2}$ **米**") == r'<span class="math-inline">\sqrt{2}</span> <strong>米</strong>'
    assert richtext.render_inline("![图](images/x.svg)") == (
        '<span class="image-missing">[图片缺失 missing image: images/x.svg]</span>'
    )


def test_plain_text_strips_markup_and_keeps_tex():
    text = "# 题\n一物体 **静止**，$v^2 = 2ax$，\\ce{H2O}\n\n$$E=mc^2$$\n\n![斜面](images/x.svg) `code` [链接](http://x)"
    assert richtext.plain_text(text) == "题 一物体 静止，$v^2 = 2ax$，\\ce{H2O} $$E=mc^2$$ 斜面 code 链接"


def test_plain_text_is_not_html():
    assert richtext.plain_text("a &amp; <b>") == "a & <b>"


def test_render_cached_matches_render_and_caches():
    richtext.render_cached.cache_clear()
    images = tuple(sorted(IMAGES.items()))
    first = richtext.render_cached("![x](images/x.svg) $a$", images)
    assert first == render("![x](images/x.svg) $a$")
    assert richtext.render_cached("![x](images/x.svg) $a$", images) is first
    assert richtext.render_cached.cache_info().hits == 1


# --- fill-in blanks -----------------------------------------------------------------------------


def test_blanks_become_placeholders():
    html = stem("水的化学式为 {{1}}，密度约 {{2}} kg/m³。")
    assert html == (
        '<p>水的化学式为 <span class="blank" data-blank="1">（1）</span>，'
        '密度约 <span class="blank" data-blank="2">（2）</span> kg/m³。</p>\n'
    )


def test_markers_inside_math_and_code_are_left_alone():
    text = "$x^{{2}}$ 与 `{{1}}` 与 {{1}}\n\n```\nd = {{3}}\n```\n\n$$\ny_{{4}}\n$$"
    html = stem(text)
    assert html.count('<span class="blank"') == 1
    assert '<span class="math-inline">x^{{2}}</span>' in html
    assert "<code>{{1}}</code>" in html and "d = {{3}}" in html and "y_{{4}}" in html
    assert richtext.blank_markers(text) == [1]


def test_custom_blank_renderer_runs_after_sanitizing():
    html = richtext.stem_with_blanks(
        "答：{{1}}", lambda n: f'<input name="blank-{n}">', image_url=IMAGES.get
    )
    assert html == '<p>答：<input name="blank-1"></p>\n'


def test_blanks_cannot_be_forged_and_render_leaves_markers():
    forged = "\ue0009\ue001 <span class=\"blank\">x</span> {{1}}"
    html = stem(forged)
    assert html.count('<span class="blank"') == 1 and 'data-blank="9"' not in html
    assert "{{1}}" in render("{{1}}")


def test_blank_markers_in_order():
    assert richtext.blank_markers("{{1}} a **{{2}}** | {{3}}") == [1, 2, 3]


# --- XSS ---------------------------------------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>">',
    '<object data="javascript:alert(1)"></object>',
    "<form><button formaction=javascript:alert(1)>x</button></form>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x](images/x.svg "t" onerror="alert(1)")',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;img src=x onerror=alert(1)&#62;",
    "<style>@import 'http://evil.example/x.css';</style>",
    "$</span><script>alert(1)</script>$",
    r"$\\$</span><img src=x onerror=alert(1)>$",
    "$$\n</div><script>alert(1)</script>\n$$",
    "$x$</span><img src=x onerror=alert(1)>",
    r"\ce{</span><script>alert(1)</script>}",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "| <img src=x onerror=alert(1)> | b |\n|---|---|\n| <script>alert(1)</script> | c |",
    "<img src=\"x` `<script>alert(1)</script>\"` `>",
    "{{1}}<img src=x onerror=alert(1)>{{2}}",
]


@pytest.mark.parametrize("renderer", [render, stem, inline], ids=["render", "stem", "inline"])
@pytest.mark.parametrize("payload", XSS)
def test_xss_payload_comes_out_inert(renderer, payload):
    assert_inert(renderer(payload))


@pytest.mark.parametrize("payload", [p for p in XSS if p.startswith(("[", "!["))])
def test_hostile_markdown_urls_vanish_entirely(payload):
    # Written as raw HTML, a payload is shown as escaped text; written as a Markdown link or image,
    # its URL is dropped, so not even the text "javascript:" reaches the page.
    html = render(payload).lower()
    assert "javascript" not in html and "data:" not in html and "vbscript" not in html


def test_tex_payload_stays_text_inside_the_math_span():
    html = render("$</span><script>alert(1)</script>$")
    assert html == (
        '<p><span class="math-inline">&lt;/span&gt;&lt;script&gt;alert(1)&lt;/script&gt;</span></p>\n'
    )
