"""One checker and one canonical builder per question type, looked up by the question's ``type``.

Checkers add issues to a ``Checker`` and never raise; builders assume a question that passed them.
Material groups (``group``) recurse into whole questions, so app/domain/questions.py handles them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.domain.question_rules import BLANK_MARKER, LIMITS, Checker, clean, is_number

__all__ = ["TYPE_CANON", "TYPE_CHECKS"]


def _single(c: Checker) -> None:
    """Single choice: 2–8 options, ``answer`` one option id."""
    ids = c.choices("options", 2, 8)
    answer = c.q.get("answer")
    if answer is None:
        c.missing("answer")
    elif not isinstance(answer, str):
        c.add("answer", "answer.not_id", "单选题答案应为一个选项编号，例如 b",
              "a single-choice answer is one option id, e.g. b")
    elif ids is not None and answer.strip() not in ids:
        c.missing_option(answer.strip())


def _multiple(c: Checker) -> None:
    """Multiple choice: 2–8 options, ``answer`` a list of at least one option id."""
    ids = c.choices("options", 2, 8)
    answer = c.q.get("answer")
    if answer is None:
        c.missing("answer")
    elif answer == [] or answer == "":
        c.add("answer", "multiple.no_correct", "多选题至少要有一个正确选项",
              "a multiple-choice question needs at least one correct option")
    elif ids is not None:
        c.answer_ids(answer, ids)


def _true_false(c: Checker) -> None:
    """True/false: ``answer`` is the YAML boolean true or false."""
    answer = c.q.get("answer")
    if answer is None:
        c.missing("answer")
    elif not isinstance(answer, bool):
        c.add("answer", "true_false.not_bool",
              f"判断题答案必须是 true 或 false（不加引号），不能是“{answer}”",
              f'a true/false answer must be true or false (no quotes), not "{answer}"')


def _numeric(c: Checker, numeric: Any, fld: str) -> None:
    if not isinstance(numeric, dict):
        c.add(fld, "blank.not_number", "数值答案应形如 {value: 9.8, tolerance: 0.05}",
              "a numeric answer looks like {value: 9.8, tolerance: 0.05}")
        return
    c.unknown_fields(numeric, ("value", "tolerance", "rel_tolerance"), fld)
    value = numeric.get("value")
    if value is None:
        c.missing(f"{fld}.value")
    elif not is_number(value):
        c.add(f"{fld}.value", "blank.not_number",
              f"数值答案必须是数字（例如 9.8 或 6.02e23），“{value}”不是数字",
              f'the numeric answer must be a number (e.g. 9.8 or 6.02e23); "{value}" is not')
    for name in ("tolerance", "rel_tolerance"):
        if name in numeric and not (is_number(numeric[name]) and numeric[name] >= 0):
            c.add(f"{fld}.{name}", "blank.bad_tolerance", "误差必须是不小于 0 的数字",
                  "a tolerance must be a number of at least 0")


def _blank(c: Checker, blank: Any, fld: str) -> None:
    """One blank: accepted ``answers`` (texts), a ``numeric`` answer, or both."""
    if not isinstance(blank, dict):
        c.add(fld, "blank.not_mapping", "每个空应形如 {answers: [...]} 或 {numeric: {value: ...}}",
              "each blank looks like {answers: [...]} or {numeric: {value: ...}}")
        return
    c.unknown_fields(blank, ("answers", "case_sensitive", "numeric", "unit"), fld)
    if "answers" not in blank and "numeric" not in blank:
        c.add(fld, "blank.no_answer", "需要 answers（可接受的文字答案）或 numeric（数值答案）",
              "needs answers (accepted texts) or numeric (a number)")
    if "answers" in blank:
        answers = [blank["answers"]] if isinstance(blank["answers"], str) else blank["answers"]
        if not isinstance(answers, list) or not answers:
            c.add(f"{fld}.answers", "blank.answers_empty", "应为非空的可接受答案列表",
                  "must be a non-empty list of accepted answers")
        else:
            for j, answer in enumerate(answers, 1):
                c.text(answer, f"{fld}.answers[{j}]", LIMITS["answer"])
    if "case_sensitive" in blank and not isinstance(blank["case_sensitive"], bool):
        c.add(f"{fld}.case_sensitive", "blank.bad_flag", "应为 true 或 false", "must be true or false")
    if "numeric" in blank:
        _numeric(c, blank["numeric"], f"{fld}.numeric")
    if "unit" in blank:
        if "numeric" not in blank:
            c.add(f"{fld}.unit", "blank.unit_without_number", "只有数值答案（numeric）才能写单位",
                  "only a numeric blank can have a unit")
        c.text(blank["unit"], f"{fld}.unit", LIMITS["unit"], required=False)


def _fill_blank(c: Checker) -> None:
    """Fill-in-blank: markers {{1}}, {{2}}, … in the stem in order, one ``blanks`` entry each."""
    stem = c.q.get("stem")
    markers = [int(m) for m in BLANK_MARKER.findall(stem)] if isinstance(stem, str) else None
    if markers == []:
        c.add("stem", "blanks.no_marker", "填空题题干中没有空位标记 {{1}}",
              "the stem has no blank marker {{1}}")
    elif markers and markers != list(range(1, len(markers) + 1)):
        found = "、".join(f"{{{{{m}}}}}" for m in markers)
        c.add("stem", "blanks.marker_order", f"空位标记应依次为 {{{{1}}}}、{{{{2}}}}……各一次，现为 {found}",
              f"blank markers must be {{{{1}}}}, {{{{2}}}}, … in order, each once; found {found}")
    blanks = c.q.get("blanks")
    if blanks is None:
        c.missing("blanks")
        return
    if not isinstance(blanks, list) or not blanks:
        c.add("blanks", "blanks.not_list", "应为非空列表，每个空一项",
              "must be a non-empty list, one entry per blank")
        return
    if markers and len(markers) != len(blanks):
        c.add("blanks", "blanks.count", f"题干有 {len(markers)} 个空位标记，blanks 却有 {len(blanks)} 项",
              f"the stem has {len(markers)} blank markers but blanks has {len(blanks)} entries")
    for i, blank in enumerate(blanks, 1):
        _blank(c, blank, f"blanks[{i}]")


def _ordering(c: Checker) -> None:
    """Ordering: 2–10 items; ``answer`` lists every item id once, in the correct order."""
    ids = c.choices("items", 2, 10)
    answer = c.q.get("answer")
    if answer is None:
        c.missing("answer")
        return
    given = c.answer_ids(answer, ids) if ids is not None else None
    left_out = [i for i in ids or [] if i not in (given or [])]
    if given is not None and left_out:
        c.add("answer", "ordering.not_permutation",
              f"答案必须按正确顺序把每一项各列一次，缺少：{'、'.join(left_out)}",
              f"the answer must list every item once in the correct order; missing: {', '.join(left_out)}")


def _matching(c: Checker) -> None:
    """Matching: 2–10 prompts, at least as many options (≤ 12); ``answer`` maps each prompt to an option."""
    prompts = c.choices("prompts", 2, 10)
    options = c.choices("options", 2, 12)
    if prompts is not None and options is not None and len(options) < len(prompts):
        c.add("options", "matching.too_few_options", "选项数不能少于配对题干（prompts）数",
              "there must be at least as many options as prompts")
    answer = c.q.get("answer")
    if answer is None:
        c.missing("answer")
        return
    if not isinstance(answer, dict):
        c.add("answer", "matching.not_mapping", "答案应形如 {p1: a, p2: b}：每个配对题干对应一个选项编号",
              "the answer looks like {p1: a, p2: b}: each prompt id → one option id")
        return
    if prompts is None or options is None:
        return
    pairs = {str(k).strip(): v for k, v in answer.items()}
    for prompt, option in pairs.items():
        if prompt not in prompts:
            c.add(f"answer.{prompt}", "matching.unknown_prompt", f"“{prompt}”不是配对题干（prompts）的编号",
                  f'"{prompt}" is not a prompt id')
        elif not isinstance(option, str) or option.strip() not in options:
            c.missing_option(str(option), f"answer.{prompt}")
    for prompt in prompts:
        if prompt not in pairs:
            c.add("answer", "matching.prompt_unanswered", f"配对题干“{prompt}”没有答案",
                  f'prompt "{prompt}" has no answer')


def _short_answer(c: Checker) -> None:
    """Short answer (manually graded): a ``reference_answer``, an optional ``rubric``, no ``answer``."""
    c.text(c.q.get("reference_answer"), "reference_answer", LIMITS["long"])
    c.text(c.q.get("rubric"), "rubric", LIMITS["long"], required=False)


TYPE_CHECKS: dict[str, Callable[[Checker], None]] = {
    "single": _single, "multiple": _multiple, "true_false": _true_false, "fill_blank": _fill_blank,
    "ordering": _ordering, "matching": _matching, "short_answer": _short_answer,
}


# --- canonical builders: the type-specific fields of canonical(q), in their stored order ---------

def _as_list(value: Any) -> list:
    return [value] if isinstance(value, str) else list(value)


def _choices(entries: list[dict]) -> list[dict[str, str]]:
    return [{"id": e["id"].strip(), "text": clean(e["text"])} for e in entries]


def _multiple_canon(q: dict) -> dict:
    # The correct ids in option order, so [c, a] and [a, c] store the same.
    options = _choices(q["options"])
    correct = {a.strip() for a in _as_list(q["answer"])}
    return {"options": options, "answer": [o["id"] for o in options if o["id"] in correct]}


def _blank_canon(blank: dict) -> dict:
    out: dict[str, Any] = {}
    if "answers" in blank:
        out["answers"] = [clean(a) for a in _as_list(blank["answers"])]
        out["case_sensitive"] = bool(blank.get("case_sensitive", False))
    if "numeric" in blank:
        numeric = blank["numeric"]
        number = {"value": float(numeric["value"])}
        for name in ("tolerance", "rel_tolerance"):
            if name in numeric:
                number[name] = float(numeric[name])
        if len(number) == 1:
            number["tolerance"] = 0.0
        out["numeric"] = number
        out["unit"] = clean(blank.get("unit") or "")
    return out


def _matching_canon(q: dict) -> dict:
    prompts = _choices(q["prompts"])
    pairs = {str(k).strip(): v.strip() for k, v in q["answer"].items()}
    return {"prompts": prompts, "options": _choices(q["options"]),
            "answer": {p["id"]: pairs[p["id"]] for p in prompts}}


TYPE_CANON: dict[str, Callable[[dict], dict]] = {
    "single": lambda q: {"options": _choices(q["options"]), "answer": q["answer"].strip()},
    "multiple": _multiple_canon,
    "true_false": lambda q: {"answer": q["answer"]},
    "fill_blank": lambda q: {"blanks": [_blank_canon(b) for b in q["blanks"]]},
    "ordering": lambda q: {"items": _choices(q["items"]),
                           "answer": [a.strip() for a in _as_list(q["answer"])]},
    "matching": _matching_canon,
    "short_answer": lambda q: {"reference_answer": clean(q["reference_answer"]),
                               "rubric": clean(q.get("rubric") or "")},
}
