"""What a student is shown of a question: rendered text, displayed order, opaque ids — never a key.

``student_view`` is the only way question content reaches a student's page or JSON. It copies
just the fields a student may see (stem, options, items, prompts, blank count and units, parts)
and never the answer, explanation, reference answer or rubric, whatever the content holds.
Options, items and matching choices are shown in the student's seeded order with opaque ids; the
server maps the ids back with ``canonical_ids``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.domain import richtext, shuffle

ImageUrl = Callable[[str], str | None]
LETTERS = "ABCDEFGHIJ"


def _blank_input(number: int) -> str:
    return (f'<span class="blank" data-blank="{number}"><span class="visually-hidden">第{number}空</span>'
            f'（{number}）</span>')


def _memo(rendered: dict | None, key: tuple, make: Callable[[], str]) -> str:
    """Rendered HTML from ``rendered`` (a per-question-version memo the caller keeps), else made now."""
    if rendered is None:
        return make()
    html = rendered.get(key)
    if html is None:
        html = rendered[key] = make()
    return html


def _inline(rendered: dict | None, text: str, image_url: ImageUrl) -> str:
    return _memo(rendered, ("inline", text), lambda: richtext.render_inline(text, image_url=image_url))


def student_view(content: dict[str, Any], *, seed: str, image_url: ImageUrl, shuffle_options: bool = True,
                 rendered: dict | None = None) -> dict:
    """The display model of one question for one student (``seed`` is the attempt's seed).

    Rendering the stem and options from Markdown/LaTeX does not depend on the student, only the
    order and the opaque ids do: a caller that shows one pinned question version to many students
    passes the same ``rendered`` dict each time and each text is rendered once.
    """
    key = content["key"]
    qtype = content["type"]
    view: dict[str, Any] = {"key_token": shuffle.opaque_id(seed, "q", key), "type": qtype}
    if qtype == "fill_blank":
        view["stem_html"] = _memo(rendered, ("blanks", content["stem"]),
                                  lambda: richtext.stem_with_blanks(content["stem"], _blank_input, image_url=image_url))
        view["blanks"] = [{"n": i + 1, "unit": b.get("unit") or ""} for i, b in enumerate(content.get("blanks", []))]
    else:
        view["stem_html"] = _memo(rendered, ("block", content["stem"]),
                                  lambda: richtext.render(content["stem"], image_url=image_url))
    if qtype != "group":
        view["points"] = content.get("points")

    if qtype in ("single", "multiple"):
        ids = [o["id"] for o in content["options"]]
        order = shuffle.option_order(seed, key, ids) if shuffle_options else ids
        texts = {o["id"]: o["text"] for o in content["options"]}
        view["options"] = [{"id": shuffle.opaque_id(seed, key, cid), "label": LETTERS[i],
                            "html": _inline(rendered, texts[cid], image_url)}
                           for i, cid in enumerate(order)]
    elif qtype == "ordering":
        ids = [i["id"] for i in content["items"]]
        order = shuffle.ordering_display(seed, key, ids, content["answer"])
        texts = {i["id"]: i["text"] for i in content["items"]}
        view["items"] = [{"id": shuffle.opaque_id(seed, key, cid),
                          "html": _inline(rendered, texts[cid], image_url)} for cid in order]
    elif qtype == "matching":
        prompt_ids = [p["id"] for p in content["prompts"]]
        option_ids = [o["id"] for o in content["options"]]
        order = shuffle.option_order(seed, key, option_ids) if shuffle_options else option_ids
        ptexts = {p["id"]: p["text"] for p in content["prompts"]}
        otexts = {o["id"]: o["text"] for o in content["options"]}
        view["prompts"] = [{"id": shuffle.opaque_id(seed, key, "p:" + pid),
                            "html": _inline(rendered, ptexts[pid], image_url)} for pid in prompt_ids]
        view["choices"] = [{"id": shuffle.opaque_id(seed, key, cid), "label": LETTERS[i],
                            "html": _inline(rendered, otexts[cid], image_url)}
                           for i, cid in enumerate(order)]
    elif qtype == "group":
        view["parts"] = [student_view(part, seed=seed, image_url=image_url, shuffle_options=shuffle_options,
                                      rendered=rendered)
                         for part in content.get("parts", [])]
    return view


def canonical_ids(content: dict[str, Any], seed: str) -> dict[str, dict[str, str]]:
    """Opaque token → canonical id, per question or part key (matching prompts prefixed ``p:``)."""
    maps: dict[str, dict[str, str]] = {}

    def walk(q: dict[str, Any]) -> None:
        key = q["key"]
        ids: list[str] = []
        if q["type"] in ("single", "multiple", "matching"):
            ids += [o["id"] for o in q["options"]]
        if q["type"] == "ordering":
            ids += [i["id"] for i in q["items"]]
        if q["type"] == "matching":
            ids += ["p:" + p["id"] for p in q["prompts"]]
        maps[key] = shuffle.build_opaque_map(seed, key, ids)
        for part in q.get("parts", []) if q["type"] == "group" else []:
            walk(part)

    walk(content)
    return maps


def to_canonical_response(content: dict[str, Any], seed: str, response: Any,
                          maps: dict[str, dict[str, str]] | None = None) -> Any:
    """Translate a response written with opaque ids into canonical ids; raise ValueError if malformed.

    Shapes (as the page sends them): single → token; multiple → [tokens]; true_false → bool;
    fill_blank → [text per blank]; ordering → [tokens]; matching → {prompt token: choice token};
    short_answer → text; group → {part key token: part response}. ``None`` clears the answer.
    """
    maps = maps or canonical_ids(content, seed)
    return _translate(content, seed, response, maps)


def _translate(q: dict[str, Any], seed: str, response: Any, maps: dict[str, dict[str, str]]) -> Any:
    if response is None:
        return None
    key, qtype = q["key"], q["type"]
    table = maps.get(key, {})

    def one(token: Any) -> str:
        if not isinstance(token, str) or token not in table:
            raise ValueError("unknown option id")
        return table[token]

    if qtype == "single":
        return one(response)
    if qtype in ("multiple", "ordering"):
        if not isinstance(response, list) or len(response) > 20:
            raise ValueError("expected a list of option ids")
        values = [one(t) for t in response]
        if len(set(values)) != len(values):
            raise ValueError("an option is repeated")
        return sorted(values) if qtype == "multiple" else values
    if qtype == "true_false":
        if not isinstance(response, bool):
            raise ValueError("expected true or false")
        return response
    if qtype == "fill_blank":
        blanks = len(q.get("blanks", []))
        if not isinstance(response, list) or len(response) != blanks or not all(isinstance(t, str) for t in response):
            raise ValueError(f"expected {blanks} blank text(s)")
        if any(len(t) > 500 for t in response):
            raise ValueError("a blank answer is too long")
        return list(response)
    if qtype == "matching":
        if not isinstance(response, dict) or len(response) > 20:
            raise ValueError("expected prompt → choice pairs")
        pairs = {}
        for p_token, c_token in response.items():
            prompt = one(p_token)
            if not prompt.startswith("p:"):
                raise ValueError("unknown prompt id")
            if c_token is None:
                continue
            choice = one(c_token)
            if choice.startswith("p:"):
                raise ValueError("unknown choice id")
            pairs[prompt[2:]] = choice
        return pairs
    if qtype == "short_answer":
        if not isinstance(response, str) or len(response) > 20000:
            raise ValueError("expected text of at most 20,000 characters")
        return response
    if qtype == "group":
        if not isinstance(response, dict):
            raise ValueError("expected answers per part")
        parts = {shuffle.opaque_id(seed, "q", p["key"]): p for p in q.get("parts", [])}
        result = {}
        for token, part_response in response.items():
            if token not in parts:
                raise ValueError("unknown part")
            result[parts[token]["key"]] = _translate(parts[token], seed, part_response, maps)
        return result
    raise ValueError(f"unknown question type {qtype}")
