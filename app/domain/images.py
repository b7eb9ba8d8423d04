"""Images in question banks: decide what a file really is, and make it safe to serve.

The type is decided by content (magic bytes), never by the file name: a PNG named ``fig.svg`` is a
PNG. Raster images (PNG, JPEG, GIF, WebP) are verified with Pillow, the pixel count read from the
header before anything is decoded. SVG is parsed with defusedxml (no DTD, no entities) and rebuilt
from an allowlist of elements and presentation attributes: scripts, foreignObject, event attributes,
animation and every external reference are dropped, so the stored SVG cannot run or fetch anything.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
import xml.etree.ElementTree as ET  # only to build and serialize the new, clean tree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml

from app.domain.question_rules import Issue

__all__ = ["MIME_EXTENSIONS", "check_image", "content_hash_name"]

MIME_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
                   "image/svg+xml": "svg"}
# Pillow's names for each type; phones write JPEGs that Pillow calls MPO.
_PILLOW_FORMATS = {"image/png": ("PNG",), "image/jpeg": ("JPEG", "MPO"), "image/gif": ("GIF",),
                   "image/webp": ("WEBP",)}

SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

_SVG_ELEMENTS = frozenset(["svg", "g", "defs", "symbol", "use", "switch", "title", "desc", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop", "clipPath", "mask", "pattern", "marker", "image", "style", "filter", "feGaussianBlur", "feOffset", "feBlend", "feColorMatrix", "feComposite", "feFlood", "feMerge", "feMergeNode", "feMorphology", "feDropShadow"])
_SVG_ATTRIBUTES = frozenset(["id", "class", "style", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr", "width", "height", "d", "points", "transform", "viewBox", "preserveAspectRatio", "version", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity", "color", "font-family", "font-size", "font-weight", "font-style", "font-variant", "text-anchor", "dominant-baseline", "alignment-baseline", "baseline-shift", "letter-spacing", "word-spacing", "text-decoration", "writing-mode", "dx", "dy", "rotate", "textLength", "lengthAdjust", "startOffset", "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform", "spreadMethod", "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits", "patternUnits", "patternContentUnits", "patternTransform", "marker-start", "marker-mid", "marker-end", "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient", "visibility", "display", "overflow", "vector-effect", "shape-rendering", "text-rendering", "image-rendering", "paint-order", "filter", "filterUnits", "primitiveUnits", "in", "in2", "result", "stdDeviation", "mode", "values", "type", "operator", "k1", "k2", "k3", "k4", "flood-color", "flood-opacity", "radius"])
# url(...) may only point inside the document; a raster data: URL is the one allowed href.
_EXTERNAL_URL = re.compile(r"url\s*\(\s*['\"]?\s*(?!#)", re.IGNORECASE)
_CSS_DANGER = re.compile(r"@import|expression\s*\(|javascript:|behavior\s*:|-moz-binding|\\|</", re.IGNORECASE)
_RASTER_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)


def _issue(name: str, code: str, zh: str, en: str) -> Issue:
    return Issue(name, code, zh, en)


def _sniff(data: bytes) -> str | None:
    """The MIME type that the bytes themselves declare, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and b"<svg" in data[:65536]:
        return "image/svg+xml"
    return None


def check_image(name: str, data: bytes, *, max_bytes: int = 2_000_000,
                max_pixels: int = 16_000_000) -> tuple[str, bytes] | Issue:
    """Decide and check an image by its content; return ``(mime_type, safe_bytes)`` or an Issue.

    Rule: at most ``max_bytes``; the type comes from the magic bytes (PNG, JPEG, GIF, WebP, SVG),
    never from ``name``; a raster image must open in Pillow with at most ``max_pixels`` pixels
    (read from the header, before decoding) and then decode fully; an SVG must parse without DTD or
    entities and is returned re-serialized from the allowlist (see the module docstring). Raster
    bytes are returned unchanged. The Issue is located at ``name``.
    """
    if len(data) > max_bytes:
        return _issue(name, "image.too_large",
                      f"图片过大：{len(data) / 1e6:.1f} MB，最大 {max_bytes / 1e6:.1f} MB",
                      f"image too large: {len(data) / 1e6:.1f} MB, at most {max_bytes / 1e6:.1f} MB")
    mime = _sniff(data)
    if mime is None:
        return _issue(name, "image.not_image", "不是图片：只接受 PNG、JPEG、GIF、WebP 或 SVG 文件",
                      "not an image: only PNG, JPEG, GIF, WebP or SVG files are accepted")
    if mime == "image/svg+xml":
        return _check_svg(name, data)
    return _check_raster(name, data, mime, max_pixels)


def _check_raster(name: str, data: bytes, mime: str, max_pixels: int) -> tuple[str, bytes] | Issue:
    from PIL import Image  # imported here: only raster checks need Pillow

    broken = _issue(name, "image.not_image", "图片文件已损坏或不完整，无法打开",
                    "the image file is damaged or incomplete and cannot be opened")
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images; our own limit below is stricter, and warnings are errors.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[mime]) as image:
                if image.format not in _PILLOW_FORMATS[mime]:
                    return broken
                width, height = image.size
                if width * height > max_pixels:
                    return _too_many_pixels(name, max_pixels, f"{width}×{height}")
                image.load()
    except Image.DecompressionBombError:  # Pillow's own header check, for absurd sizes
        return _too_many_pixels(name, max_pixels, "")
    except Exception:  # Pillow's decoders raise many types (OSError, SyntaxError, ValueError, …)
        return broken
    return mime, data


def _too_many_pixels(name: str, max_pixels: int, size: str) -> Issue:
    return _issue(name, "image.too_many_pixels",
                  f"图片像素过多：{size or '远超上限'}，最多 {max_pixels:,} 像素",
                  f"image has too many pixels: {size or 'far over the limit'}, at most {max_pixels:,}")


def _local(tag: object) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag or attribute name."""
    text = tag if isinstance(tag, str) else ""
    if text.startswith("{"):
        namespace, _, local = text[1:].partition("}")
        return namespace, local
    return "", text


def _safe_style(style: str) -> str:
    """Keep only allowlisted CSS declarations whose value cannot load or run anything."""
    kept = []
    for declaration in style.split(";"):
        prop, sep, value = declaration.partition(":")
        prop = prop.strip().lower()
        if sep and prop in _SVG_ATTRIBUTES and not _EXTERNAL_URL.search(value) \
                and not _CSS_DANGER.search(value):
            kept.append(f"{prop}:{value.strip()}")
    return ";".join(kept)


def _safe_attribute(name: str, value: str) -> str | None:
    """The cleaned value of an allowlisted attribute, or None to drop it."""
    if name == "href":
        stripped = value.strip()
        if stripped.startswith("#") or _RASTER_DATA_URL.fullmatch(stripped):
            return stripped
        return None
    if name == "style":
        return _safe_style(value) or None
    if name not in _SVG_ATTRIBUTES or _EXTERNAL_URL.search(value) or _CSS_DANGER.search(value):
        return None
    return value


def _copy(source: ET.Element, svg_namespace: str) -> ET.Element | None:
    """A clean copy of ``source`` and its allowed descendants, or None when it is not allowed."""
    namespace, local = _local(source.tag)
    if namespace != svg_namespace or local not in _SVG_ELEMENTS:
        return None
    css = source.text or ""
    if local == "style" and (_CSS_DANGER.search(css) or _EXTERNAL_URL.search(css)):
        return None
    # Plain local names; the root gets the SVG namespace as an xmlns attribute at serialization.
    element = ET.Element(local)
    for attribute, value in source.attrib.items():
        attr_ns, attr_local = _local(attribute)
        if attr_ns == _XLINK_NS and attr_local == "href":
            attr_ns = ""
        if attr_ns == _XML_NS and attr_local == "space":
            element.set(attribute, "preserve" if value == "preserve" else "default")
            continue
        cleaned = _safe_attribute(attr_local, value) if attr_ns == "" else None
        if cleaned is not None:
            element.set(attr_local, cleaned)
    element.text = source.text
    _copy_children(element, source, svg_namespace)
    return element


def _copy_children(element: ET.Element, source: ET.Element, svg_namespace: str) -> None:
    """Append clean copies of ``source``'s children; links (<a>) are unwrapped, text is kept."""
    for child in source:
        if _local(child.tag) == (svg_namespace, "a"):
            _add_text(element, child.text)
            _copy_children(element, child, svg_namespace)
            _add_text(element, child.tail)
            continue
        copied = _copy(child, svg_namespace)
        if copied is not None:
            element.append(copied)
        _add_text(element, child.tail)  # the text after a dropped element stays too


def _add_text(element: ET.Element, text: str | None) -> None:
    if not text:
        return
    if len(element):
        element[-1].tail = (element[-1].tail or "") + text
    else:
        element.text = (element.text or "") + text


def _check_svg(name: str, data: bytes) -> tuple[str, bytes] | Issue:
    try:
        root = parse_xml(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        return _issue(name, "image.unsafe",
                      "SVG 含有 <!DOCTYPE> 或实体声明（可被用来攻击服务器），不接受；"
                      "请删除 <!DOCTYPE …> 一段，或在绘图软件中另存为“普通 SVG”",
                      "the SVG contains a <!DOCTYPE> or entity declarations (usable for attacks); remove the "
                      "<!DOCTYPE …> part or save it as plain SVG in your drawing program")
    except (ET.ParseError, ValueError, UnicodeError):
        return _issue(name, "image.not_image", "SVG 文件格式错误，无法解析", "the SVG file is malformed XML")
    namespace, local = _local(root.tag)
    if local != "svg" or namespace not in ("", SVG_NS):
        return _issue(name, "image.not_image", "不是 SVG 图片（根元素不是 <svg>）",
                      "not an SVG image (the root element is not <svg>)")
    clean = _copy(root, namespace)
    assert clean is not None  # the root was checked above
    clean.set("xmlns", SVG_NS)
    body = ET.tostring(clean, encoding="unicode")
    return "image/svg+xml", b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")


def content_hash_name(data: bytes, mime: str) -> str:
    """The storage name of an image: ``<sha256 hex>.<ext>`` (ext from the MIME type, e.g. ``png``)."""
    try:
        extension = MIME_EXTENSIONS[mime]
    except KeyError:
        raise ValueError(f"not an image type we store: {mime!r}") from None
    return f"{hashlib.sha256(data).hexdigest()}.{extension}"
