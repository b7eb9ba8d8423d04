"""Scoring of one response to one question, by a named policy.

Content is the canonical question dict of docs/question-format.md; responses use canonical ids,
never displayed letters. Every policy lives in ``POLICIES`` and is looked up by name, so an exam or
section stores only a policy name (and its parameters) and this module applies it everywhere.
Points are computed in Decimal and rounded to 0.01 half-up, so no float noise reaches a total.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from app.domain.textnorm import normalize_text, number_matches

__all__ = [
    "DEFAULT_POLICIES", "POLICIES", "ItemScore", "Policy", "max_points", "policies_for",
    "policy_label", "score_response", "section_total",
]

_CENT = Decimal("0.01")
_ZERO = Decimal(0)


def _round(value: Decimal) -> float:
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _decimal(value: object, what: str) -> Decimal:
    # str() first, so 0.1 reads as 0.1 and not as its binary approximation; True, None and lists
    # do not read as numbers.
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


@dataclass(frozen=True)
class ItemScore:
    """The score of one response: points earned and what a ranking or a report needs to know."""

    points: float
    max_points: float
    correct: bool | None  # None: partial credit, or waiting for a manual grade
    wrong: bool  # answered and not fully correct (the "fewer wrong answers" tie-break)
    answered: bool
    policy: str
    needs_manual: bool = False
    parts: tuple[tuple[str, ItemScore], ...] = field(default=())


class _Malformed(Exception):
    """A response of the wrong shape: scored 0, never an error for the student."""


# --- reading responses -------------------------------------------------------------------------


def _ids(content: Mapping, field_name: str) -> list[str]:
    return [entry["id"] for entry in content.get(field_name) or ()]


def _id_list(response: object, allowed: Iterable[str]) -> list[str]:
    if not isinstance(response, (list, tuple, set, frozenset)):
        raise _Malformed
    allowed = set(allowed)
    if not all(isinstance(item, str) and item in allowed for item in response):
        raise _Malformed
    return list(response)


def _matching_pairs(content: Mapping, response: object) -> dict[str, str]:
    if not isinstance(response, Mapping):
        raise _Malformed
    prompts, options = set(_ids(content, "prompts")), set(_ids(content, "options"))
    pairs = {}
    for prompt, option in response.items():
        if option is None or option == "":
            continue  # that prompt is left unanswered
        if prompt not in prompts or not isinstance(option, str) or option not in options:
            raise _Malformed
        pairs[prompt] = option
    return pairs


def _blank_texts(content: Mapping, response: object) -> list[str]:
    blanks = content.get("blanks") or ()
    if not isinstance(response, (list, tuple)) or len(response) != len(blanks):
        raise _Malformed
    if not all(text is None or isinstance(text, str) for text in response):
        raise _Malformed
    return [text or "" for text in response]


def _is_unanswered(response: object) -> bool:
    # Empty text, an empty collection, a list of empty blanks or a map of empty choices.
    if response is None or isinstance(response, str):
        return response is None or not normalize_text(response)
    if isinstance(response, Mapping):
        return all(_is_unanswered(value) for value in response.values())
    if isinstance(response, (list, tuple, set, frozenset)):
        return all((item is None or isinstance(item, str)) and _is_unanswered(item) for item in response)
    return False


def _blank_correct(blank: Mapping, text: str) -> bool:
    """A blank is right when its text matches an accepted answer or its number is within tolerance."""
    if not normalize_text(text):
        return False
    answers = blank.get("answers") or ()
    case_sensitive = bool(blank.get("case_sensitive", False))
    wanted = normalize_text(text, case_sensitive)
    if any(normalize_text(str(answer), case_sensitive) == wanted for answer in answers):
        return True
    numeric = blank.get("numeric")
    if numeric is None:
        if not answers:
            raise ValueError(f"a blank needs 'answers' or 'numeric': {dict(blank)!r}")
        return False
    return number_matches(text, numeric["value"], numeric.get("tolerance", 0),
                          numeric.get("rel_tolerance", 0), blank.get("unit"))


# --- the scorers: each returns the points earned, as a Decimal -----------------------------------
# Most types reduce to (right, count): a count of correct parts (blanks, positions, pairs).
# All-or-nothing gives full points when right == count; the proportional policies give
# points × right / count.

Counter = Callable[[Mapping, object], tuple[int, int]]


def _all_right(counter: Counter) -> Callable[..., Decimal]:
    def score(content: Mapping, response: object, total: Decimal) -> Decimal:
        right, count = counter(content, response)
        return total if right == count else _ZERO
    return score


def _proportional(counter: Counter) -> Callable[..., Decimal]:
    def score(content: Mapping, response: object, total: Decimal) -> Decimal:
        right, count = counter(content, response)
        return total * right / count
    return score


def _single_count(content: Mapping, response: object) -> tuple[int, int]:
    if not isinstance(response, str) or response not in _ids(content, "options"):
        raise _Malformed
    return int(response == content["answer"]), 1


def _multiple_sets(content: Mapping, response: object) -> tuple[set[str], set[str]]:
    return set(_id_list(response, _ids(content, "options"))), set(content["answer"])


def _multiple_count(content: Mapping, response: object) -> tuple[int, int]:
    # Any wrong option chosen earns nothing, under every multiple-choice policy.
    chosen, key = _multiple_sets(content, response)
    return (0 if chosen - key else len(chosen)), len(key)


def _fill_count(content: Mapping, response: object) -> tuple[int, int]:
    texts = _blank_texts(content, response)
    return sum(_blank_correct(blank, text) for blank, text in zip(content["blanks"], texts)), len(texts)


def _ordering_count(content: Mapping, response: object) -> tuple[int, int]:
    items = _ids(content, "items")
    order = _id_list(response, items)
    if not isinstance(response, (list, tuple)) or sorted(order) != sorted(items):
        raise _Malformed  # an ordering answer names every item exactly once
    key = list(content["answer"])
    return sum(given == wanted for given, wanted in zip(order, key)), len(key)


def _matching_count(content: Mapping, response: object) -> tuple[int, int]:
    pairs = _matching_pairs(content, response)
    key = dict(content["answer"])
    return sum(pairs.get(prompt) == option for prompt, option in key.items()), len(key)


def _multiple_gaokao(content: Mapping, response: object, total: Decimal, partial_points=None) -> Decimal:
    chosen, key = _multiple_sets(content, response)
    if chosen == key:
        return total
    if chosen - key:
        return _ZERO
    if partial_points is None:
        return Decimal(math.floor(total / 2))
    return _decimal(partial_points, "partial_points")


def _true_false(content: Mapping, response: object, total: Decimal,
                negative_marking: bool = False, penalty: object = None) -> Decimal:
    if not isinstance(response, bool):
        raise _Malformed
    if response is bool(content["answer"]):
        return total
    if not negative_marking:
        return _ZERO
    return -(total if penalty is None else _decimal(penalty, "penalty"))


def _manual(content: Mapping, response: object, total: Decimal) -> Decimal:
    if not isinstance(response, str):
        raise _Malformed
    return _ZERO  # a teacher grades it; until then it earns nothing


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A named scoring policy: its labels and, per question type, the function that applies it."""

    name: str
    label_zh: str
    label_en: str
    scorers: Mapping[str, Callable[..., Decimal]]  # question type -> scorer
    params: Mapping[str, frozenset[str]] = field(default_factory=dict)  # question type -> parameters


POLICIES: dict[str, Policy] = {
    policy.name: policy
    for policy in (
        Policy("all_or_nothing", "全对得分", "all or nothing", {
            "single": _all_right(_single_count), "multiple": _all_right(_multiple_count),
            "true_false": _true_false, "fill_blank": _all_right(_fill_count),
            "ordering": _all_right(_ordering_count), "matching": _all_right(_matching_count),
        }, {"true_false": frozenset({"negative_marking", "penalty"})}),
        Policy("gaokao_partial", "新高考部分得分", "gaokao partial credit",
               {"multiple": _multiple_gaokao}, {"multiple": frozenset({"partial_points"})}),
        Policy("per_option", "按选项比例得分", "per correct option", {"multiple": _proportional(_multiple_count)}),
        Policy("per_blank", "按空得分", "per blank", {"fill_blank": _proportional(_fill_count)}),
        Policy("per_pair", "按正确对数得分", "per correct pair",
               {"ordering": _proportional(_ordering_count), "matching": _proportional(_matching_count)}),
        Policy("manual", "人工评分", "graded by a teacher", {"short_answer": _manual}),
        # A group is summed part by part in _score_group; the entry names its policy.
        Policy("sum", "各小题得分之和", "sum of the parts", {"group": _manual}),
    )
}

DEFAULT_POLICIES: dict[str, str] = {
    "single": "all_or_nothing", "multiple": "all_or_nothing", "true_false": "all_or_nothing",
    "fill_blank": "per_blank", "ordering": "all_or_nothing", "matching": "all_or_nothing",
    "short_answer": "manual", "group": "sum",
}

PolicyChoice = str | Mapping[str, str] | None


def policy_label(name: str) -> tuple[str, str]:
    """Return the (Chinese, English) name of a scoring policy for pages and exports."""
    if name not in POLICIES:
        raise ValueError(f"unknown scoring policy {name!r}; known: {', '.join(sorted(POLICIES))}")
    return POLICIES[name].label_zh, POLICIES[name].label_en


def policies_for(qtype: str) -> list[str]:
    """Return the names of the policies that can score a question type, its default first."""
    if qtype not in DEFAULT_POLICIES:
        raise ValueError(f"unknown question type {qtype!r}")
    names = [name for name, policy in POLICIES.items() if qtype in policy.scorers]
    return sorted(names, key=lambda name: name != DEFAULT_POLICIES[qtype])


def _resolve(policy: PolicyChoice, qtype: str) -> tuple[str, Callable[..., Decimal], frozenset[str]]:
    if qtype not in DEFAULT_POLICIES:
        raise ValueError(f"unknown question type {qtype!r}")
    name = policy.get(qtype) if isinstance(policy, Mapping) else policy
    name = name or DEFAULT_POLICIES[qtype]
    if name not in POLICIES:
        raise ValueError(f"unknown scoring policy {name!r}; known: {', '.join(sorted(POLICIES))}")
    scorer = POLICIES[name].scorers.get(qtype)
    if scorer is None:
        raise ValueError(f"scoring policy {name!r} does not apply to {qtype!r} questions; "
                         f"use one of: {', '.join(policies_for(qtype))}")
    return name, scorer, POLICIES[name].params.get(qtype, frozenset())


def _check_params(total: Decimal, params: Mapping[str, object]) -> None:
    # Parameter mistakes are configuration errors: report them even before anyone answers.
    if params.get("partial_points") is not None:
        partial = _decimal(params["partial_points"], "partial_points")
        if not _ZERO <= partial <= total:
            raise ValueError(f"partial_points must be between 0 and the question's points ({total}), "
                             f"got {partial}")
    if params.get("penalty") is not None and _decimal(params["penalty"], "penalty") < 0:
        raise ValueError(f"penalty must not be negative, got {params['penalty']}")


def _question_points(content: Mapping, points: object) -> Decimal:
    total = _decimal(content.get("points") if points is None else points, "points")
    if total <= 0:
        raise ValueError(f"points must be positive, got {total}")
    return total


def max_points(content: Mapping, points: float | None = None) -> float:
    """Return the most a question can earn: its points, or for a material group its parts' sum."""
    if content.get("type") == "group":
        return _round(_group_total(content, points))
    return _round(_question_points(content, points))


def _group_total(content: Mapping, points: object) -> Decimal:
    total = sum((_question_points(part, None) for part in content.get("parts") or ()), _ZERO)
    if points is not None and _decimal(points, "points") != total:
        raise ValueError(f"a group is worth the sum of its parts ({total}), not {points}")
    return total


def _outcome(earned: Decimal, total: Decimal, answered: bool, policy: str) -> ItemScore:
    correct = True if earned == total else (None if earned > 0 else False)
    wrong = answered and correct is not True
    return ItemScore(_round(earned), _round(total), correct, wrong, answered, policy)


def score_response(content: Mapping, response: object, points: float | None = None,
                   policy: PolicyChoice = None, **params: object) -> ItemScore:
    """Score one response to one question under a named policy.

    Rules: ``policy`` names an entry of POLICIES (or maps question types to names; None means the
    type's default in DEFAULT_POLICIES); an unknown name, a policy that does not fit the question
    type, or a parameter the policy does not take raises ValueError. ``points`` overrides the
    question's own points. An unanswered question (None, empty text, empty list) earns 0 and is
    not answered; a malformed response (wrong shape, unknown ids) earns 0 and counts as wrong,
    never as an error. A short answer earns 0 with ``needs_manual`` until a teacher grades it (an
    empty one needs no grader). A material group scores each part with its own points and sums
    them. Points are rounded to 0.01, half up.
    """
    qtype = content.get("type")
    if qtype == "group":
        return _score_group(content, response, points, policy, params)
    name, scorer, accepted = _resolve(policy, qtype)
    unknown = set(params) - accepted
    if unknown:
        raise ValueError(f"scoring policy {name!r} for {qtype!r} questions takes no parameter "
                         f"{', '.join(sorted(unknown))}")
    total = _question_points(content, points)
    _check_params(total, params)
    if _is_unanswered(response):
        return ItemScore(0.0, _round(total), False, False, False, name)
    try:
        earned = scorer(content, response, total, **params)
    except _Malformed:
        return _outcome(_ZERO, total, True, name)
    if qtype == "short_answer":
        return ItemScore(0.0, _round(total), None, False, True, name, needs_manual=True)
    return _outcome(earned, total, True, name)


def _score_group(content: Mapping, response: object, points: object,
                 policy: PolicyChoice, params: Mapping[str, object]) -> ItemScore:
    if policy not in (None, "sum") and not isinstance(policy, Mapping):
        raise ValueError(f"a group is scored as the sum of its parts; give a mapping of question type "
                         f"to policy for its parts, not {policy!r}")
    total = _group_total(content, points)
    malformed = response is not None and not isinstance(response, Mapping)
    answers = response if isinstance(response, Mapping) else {}
    used: set[str] = set()
    parts = []
    for part in content.get("parts") or ():
        if part.get("type") == "group":
            raise ValueError(f"group part {part.get('key')!r} is itself a group")
        accepted = _resolve(policy, part.get("type"))[2]
        used |= accepted & set(params)
        part_params = {key: value for key, value in params.items() if key in accepted}
        score = score_response(part, answers.get(part["key"]), None, policy, **part_params)
        parts.append((part["key"], score))
    unused = set(params) - used
    if unused:
        raise ValueError(f"no part of this group takes the parameter {', '.join(sorted(unused))}")
    earned = sum((Decimal(str(score.points)) for _, score in parts), _ZERO)
    answered = malformed or any(score.answered for _, score in parts)
    needs_manual = any(score.needs_manual for _, score in parts)
    result = _outcome(earned, total, answered, "sum")
    correct = None if needs_manual and result.correct is False else result.correct
    wrong = malformed or any(score.wrong for _, score in parts)
    return ItemScore(result.points, result.max_points, correct, wrong, answered, "sum",
                     needs_manual, tuple(parts))


def section_total(item_scores: Iterable[ItemScore]) -> float:
    """Return a section's points: the sum of its items, never below 0.

    Rule: negative marking may take single items below zero, but a section as a whole is floored
    at 0 (the floor applies per section, not per item and not per exam). Without negative marking
    no item is negative, so the floor changes nothing.
    """
    total = sum((Decimal(str(score.points)) for score in item_scores), _ZERO)
    return _round(max(total, _ZERO))
