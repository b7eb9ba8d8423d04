"""Image checks by content and SVG sanitizing (app.domain.images)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from app.domain.images import check_image, content_hash_name
from app.domain.questions import Issue


def raster(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size but holds almost no pixel data: decoding it would
    fail (or take gigabytes), so the limit must come from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + _chunk(b"IEND", b""))


def svg_of(body: str, root_attributes: str = "") -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="100" height="50"{root_attributes}>{body}</svg>').encode()


def safe_svg(data: bytes) -> str:
    result = check_image("images/fig.svg", data)
    assert isinstance(result, tuple), result
    assert result[0] == "image/svg+xml"
    assert check_image("again.svg", result[1]) == result  # the output is stable
    return result[1].decode()


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
                                       ("WEBP", "image/webp")])
def test_raster_images_are_accepted_unchanged(fmt, mime):
    data = raster(fmt)
    assert check_image("images/photo.bin", data) == (mime, data)


def test_the_type_comes_from_the_content_not_the_name():
    png = raster("PNG")
    assert check_image("images/fig.svg", png) == ("image/png", png)
    issue = check_image("images/fig.png", b"GIF? no, just text")
    assert isinstance(issue, Issue) and issue.code == "image.not_image"
    assert issue.location == "images/fig.png"


def test_a_file_that_is_not_an_image_is_refused():
    for data in (b"", b"%PDF-1.7 ...", "<html><body>你好</body></html>".encode(), b"\x00" * 100):
        result = check_image("images/x.png", data)
        assert isinstance(result, Issue) and result.code == "image.not_image", data


def test_a_damaged_raster_image_is_refused():
    png = raster("PNG", (50, 50))
    result = check_image("images/x.png", png[: len(png) // 2])
    assert isinstance(result, Issue) and result.code == "image.not_image"


def test_too_many_bytes_is_refused():
    result = check_image("images/big.png", raster("PNG"), max_bytes=10)
    assert isinstance(result, Issue) and result.code == "image.too_large"
    assert "MB" in result.zh and "MB" in result.en


def test_too_many_pixels_is_read_from_the_header_without_decoding():
    result = check_image("images/bomb.png", png_header_claiming(5_000, 4_000))
    assert isinstance(result, Issue) and result.code == "image.too_many_pixels"
    assert "5000×4000" in result.en
    absurd = check_image("images/bomb.png", png_header_claiming(100_000, 100_000))
    assert isinstance(absurd, Issue) and absurd.code == "image.too_many_pixels"
    small = check_image("images/ok.png", raster("PNG", (10, 10)), max_pixels=99)
    assert isinstance(small, Issue) and small.code == "image.too_many_pixels"


def test_svg_keeps_drawing_and_text():
    out = safe_svg(svg_of('<g fill="none" stroke="#333"><path d="M0 0 L10 10"/></g>'
                          '<text x="5" y="20" font-size="12">温度 $T$</text>'))
    assert '<path d="M0 0 L10 10" />' in out
    assert "温度 $T$" in out
    assert 'xmlns="http://www.w3.org/2000/svg"' in out


def test_svg_script_and_event_attributes_are_removed():
    out = safe_svg(svg_of('<script>alert(1)</script><rect width="5" height="5" onclick="steal()"/>',
                          ' onload="alert(2)"'))
    assert "script" not in out and "alert" not in out and "onclick" not in out and "onload" not in out
    assert '<rect width="5" height="5" />' in out


def test_svg_foreign_object_animation_and_external_references_are_removed():
    out = safe_svg(svg_of(
        '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">html</div></foreignObject>'
        '<a xlink:href="javascript:alert(1)"><text>链接文字</text></a>'
        '<use xlink:href="#local"/><use href="https://evil.example/x.svg#a"/>'
        '<image href="data:image/png;base64,iVBORw0KGgo="/><image href="data:image/svg+xml;base64,PHN2Zz4="/>'
        '<set attributeName="href" to="javascript:alert(1)"/>'
        '<rect style="fill:red;background-image:url(https://evil.example/track)" fill="url(#grad)"/>'
        '<circle r="3" fill="url(https://evil.example/x)"/>'))
    for gone in ("foreignObject", "html", "javascript", "evil.example", "svg+xml", "<set", "background"):
        assert gone not in out, gone
    assert "链接文字" in out  # a link is unwrapped, its text kept
    assert '<use href="#local" />' in out
    assert 'href="data:image/png;base64,iVBORw0KGgo="' in out
    assert 'style="fill:red"' in out and 'fill="url(#grad)"' in out


def test_svg_style_element_with_import_is_dropped():
    out = safe_svg(svg_of('<style>@import url(https://evil.example/a.css);</style>'
                          '<style>.a{fill:red}</style>'))
    assert "evil" not in out and ".a{fill:red}" in out


def test_svg_with_dtd_or_entities_is_refused():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
              b'<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>')
    result = check_image("images/laughs.svg", laughs)
    assert isinstance(result, Issue) and result.code == "image.unsafe"
    external = (b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
                b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
                b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    result = check_image("images/doctype.svg", external)
    assert isinstance(result, Issue) and result.code == "image.unsafe"


def test_malformed_svg_and_other_xml_are_not_images():
    for data in (b"<svg xmlns='http://www.w3.org/2000/svg'><rect></svg>",
                 b"<html><svg xmlns='http://www.w3.org/2000/svg'/></html>"):
        result = check_image("images/x.svg", data)
        assert isinstance(result, Issue) and result.code == "image.not_image"


def test_content_hash_name():
    data = raster("PNG")
    assert content_hash_name(data, "image/png") == hashlib.sha256(data).hexdigest() + ".png"
    assert content_hash_name(b"x", "image/jpeg").endswith(".jpg")
    assert content_hash_name(b"x", "image/svg+xml").endswith(".svg")
    with pytest.raises(ValueError):
        content_hash_name(b"x", "text/html")
