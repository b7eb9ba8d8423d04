"""The exam form and its translation to and from an exam spec (docs/exam-spec.example.yaml).

Times are typed as local times of the display zone (``datetime-local`` inputs) and become aware
UTC; sections are edited as YAML in the documented shape. Every problem, from the form or from
``exam_authoring.validate_spec``, comes back as a located ``Issue``.
"""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

import yaml
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from app.domain.questions import Issue
from app.models import Exam

TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
TIE_BREAK_FIELDS = ("tie_break_1", "tie_break_2", "tie_break_3")
# Far above any real paper, low enough that a crafted YAML cannot make validation slow.
MAX_YAML_CHARS, MAX_SECTIONS, MAX_ITEMS = 50_000, 30, 200
# Where a form field's problem is reported: the spec's own names, as validate_spec locates them.
LOCATIONS = {"latest_start": "latest_start", "leagues": "eligibility.leagues", "sections_yaml": "sections",
             **{name: "tie_breaks" for name in TIE_BREAK_FIELDS}}


class ExamForm(FlaskForm):
    """Every field of an exam spec; the sections as YAML."""

    round = StringField(_l("选拔轮次"), render_kw={"list": "rounds", "maxlength": 128})
    subject = SelectField(_l("学科"))
    title = StringField(_l("标题"), render_kw={"maxlength": 200})
    kind = SelectField(_l("类型"), choices=[SelectChoice("selection", _l("选拔测试（排名）")),
                                            SelectChoice("practice", _l("练习（交卷后显示答案与解析）"))])
    instructions = TextAreaField(_l("考生须知"), render_kw={"rows": 4})
    opens_at = DateTimeLocalField(_l("开考时间"), format=TIME_FORMATS, validators=[Optional()])
    closes_at = DateTimeLocalField(_l("结束时间"), format=TIME_FORMATS, validators=[Optional()])
    latest_start = DateTimeLocalField(_l("最晚入场时间（可选）"), format=TIME_FORMATS,
                                      validators=[Optional()])
    duration_minutes = IntegerField(_l("时长（分钟）"), validators=[Optional()],
                                    render_kw={"min": 1, "max": 600})
    grace_seconds = IntegerField(_l("交卷宽限（秒）"), default=60, validators=[Optional()],
                                 render_kw={"min": 0, "max": 600})
    access_code = StringField(_l("考试口令（可选）"), render_kw={"maxlength": 32, "autocomplete": "off"})
    leagues = SelectMultipleField(_l("限定盟市（不选则不限）"), choices=[])
    tie_break_1 = SelectField(_l("并列时第一规则"), validate_choice=False)
    tie_break_2 = SelectField(_l("并列时第二规则"), validate_choice=False)
    tie_break_3 = SelectField(_l("并列时第三规则"), validate_choice=False)
    shuffle_questions = BooleanField(_l("每位考生题目顺序随机"), default=True)
    shuffle_options = BooleanField(_l("每位考生选项顺序随机"), default=True)
    sections_yaml = TextAreaField(_l("试卷结构（YAML）"), render_kw={"rows": 18, "spellcheck": "false"})


def to_utc(value: datetime | None, zone: tzinfo) -> datetime | None:
    """A local time typed in the display zone as aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=zone).astimezone(UTC)


def to_local(value: datetime | None, zone: tzinfo) -> datetime | None:
    """A stored UTC time as the naive local time a ``datetime-local`` input shows."""
    return value.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) if value else None


# --- sections as YAML --------------------------------------------------------------------------------


class _Flow(dict):
    """A mapping written on one line ({type: single, difficulty: [1, 5], count: 4})."""


class _FlowList(list):
    """A list written on one line ([key-1, key-2])."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data,
                                                                   flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data,
                                                                         flow_style=True))


def _whole(value: float | None) -> float | int | None:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def sections_yaml(sections: list[dict[str, Any]]) -> str:
    """Sections in the documented YAML shape, blueprint cells and key lists on one line each."""
    shaped = []
    for section in sections:
        out: dict[str, Any] = {"name": section["name"]}
        if section.get("policy"):
            out["policy"] = section["policy"]
        if section.get("policy_params"):
            out["policy_params"] = _Flow(section["policy_params"])
        if section.get("points_per_question"):
            out["points_per_question"] = _whole(section["points_per_question"])
        if section.get("questions"):
            out["questions"] = _FlowList(section["questions"])
        if section.get("blueprint"):
            out["blueprint"] = [_Flow({k: _FlowList(v) if isinstance(v, list) else v
                                       for k, v in cell.items()}) for cell in section["blueprint"]]
        shaped.append(out)
    return yaml.dump(shaped, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)


def exam_sections(exam: Exam) -> list[dict[str, Any]]:
    """A stored exam's sections in the spec's shape."""
    return [{"name": s.name, "policy": s.policy, "policy_params": s.policy_params,
             "points_per_question": s.points_per_question, "questions": list(s.fixed_keys),
             "blueprint": list(s.blueprint)} for s in exam.sections]


def _too_big(sections: Any) -> bool:
    """Whether the sections exceed what any paper needs (YAML aliases can multiply a short text)."""
    if not isinstance(sections, list):
        return False
    if len(sections) > MAX_SECTIONS:
        return True
    for section in sections:
        if isinstance(section, dict) and any(isinstance(section.get(name), list)
                                             and len(section[name]) > MAX_ITEMS
                                             for name in ("questions", "blueprint")):
            return True
    return False


def parse_sections(text: str) -> tuple[Any, list[Issue]]:
    """The sections typed in the YAML box: a list of sections (or a mapping with ``sections``)."""
    if len(text or "") > MAX_YAML_CHARS:
        return None, [Issue("sections", "exam.form", f"试卷结构过长（超过 {MAX_YAML_CHARS} 个字符）",
                            f"the sections are too long (over {MAX_YAML_CHARS} characters)")]
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"第 {mark.line + 1} 行" if mark else ""
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Issue("sections", "exam.form", f"试卷结构 YAML 格式错误 {line}：{problem}",
                            f"the sections YAML is malformed {where}: {problem}")]
    if isinstance(data, dict) and "sections" in data:
        data = data["sections"]
    if _too_big(data):
        return None, [Issue("sections", "exam.form",
                            f"试卷结构过大：最多 {MAX_SECTIONS} 个部分，"
                            f"每部分最多 {MAX_ITEMS} 道指定试题或抽题格",
                            f"too many sections: at most {MAX_SECTIONS}, "
                            f"each with at most {MAX_ITEMS} keys or cells")]
    return data, []


def section_names(sections: Any) -> list[str]:
    """The names of the sections that have one (for the tie-break choices)."""
    if not isinstance(sections, list):
        return []
    return [str(s["name"]).strip() for s in sections if isinstance(s, dict) and s.get("name")]


# --- form <-> spec -------------------------------------------------------------------------------------


def _form_issues(form: ExamForm) -> list[Issue]:
    issues = []
    for name, errors in form.errors.items():
        if name == "csrf_token":
            issues.append(Issue("csrf_token", "exam.form", "页面已过期，请刷新页面后重新提交",
                                "the page has expired; reload it and submit again"))
            continue
        label = str(getattr(form, name).label.text)
        for error in errors:
            issues.append(Issue(LOCATIONS.get(name, name), "exam.form", f"{label}：{error}",
                                f"{label}: {error}"))
    return issues


def spec_from_form(form: ExamForm, zone: tzinfo, *, eligibility: dict[str, Any] | None = None
                   ) -> tuple[dict[str, Any], list[Issue]]:
    """The exam spec the posted form describes, with the form's own problems (bad numbers or times,
    malformed YAML). ``eligibility`` keeps narrowing the form does not show (schools, exam numbers)."""
    form.validate()
    issues = _form_issues(form)
    sections, yaml_issues = parse_sections(form.sections_yaml.data or "")
    issues += yaml_issues
    tie_breaks: list[str] = []
    for name in TIE_BREAK_FIELDS:
        value = getattr(form, name).data
        if value and value not in tie_breaks:
            tie_breaks.append(value)
    spec: dict[str, Any] = {
        "round": (form.round.data or "").strip() or None,
        "subject": form.subject.data,
        "title": form.title.data or "",
        "kind": form.kind.data,
        "instructions": form.instructions.data or "",
        "opens_at": to_utc(form.opens_at.data, zone),
        "closes_at": to_utc(form.closes_at.data, zone),
        "latest_start": to_utc(form.latest_start.data, zone),
        "access_code": (form.access_code.data or "").strip() or None,
        "eligibility": {**(eligibility or {}), "leagues": list(form.leagues.data or [])},
        "tie_breaks": tie_breaks,
        "shuffle_questions": bool(form.shuffle_questions.data),
        "shuffle_options": bool(form.shuffle_options.data),
        "sections": sections if not yaml_issues else [],
    }
    if form.duration_minutes.data is not None:
        spec["duration_minutes"] = form.duration_minutes.data
    if form.grace_seconds.data is not None:
        spec["grace_seconds"] = form.grace_seconds.data
    return spec, issues


def merge_issues(form_issues: list[Issue], spec_issues: list[Issue]) -> list[Issue]:
    """The form's problems, then the spec's, without a second one for a field the form already flagged
    (an unreadable time is not also a missing one)."""
    flagged = {i.location for i in form_issues}
    return form_issues + [i for i in spec_issues if i.location not in flagged]


def fill_from_exam(form: ExamForm, exam: Exam, zone: tzinfo) -> None:
    """Put a stored exam's values into the form (editing a draft)."""
    form.round.data = exam.round.name if exam.round else ""
    form.subject.data = exam.subject_code
    form.title.data = exam.title
    form.kind.data = exam.kind
    form.instructions.data = exam.instructions
    form.opens_at.data = to_local(exam.opens_at, zone)
    form.closes_at.data = to_local(exam.closes_at, zone)
    form.latest_start.data = to_local(exam.latest_start_at, zone)
    form.duration_minutes.data = exam.duration_minutes
    form.grace_seconds.data = exam.grace_seconds
    form.access_code.data = exam.access_code or ""
    form.leagues.data = [str(c) for c in (exam.eligibility or {}).get("leagues", []) or []]
    for name, value in zip(TIE_BREAK_FIELDS, list(exam.tie_breaks or []) + ["", "", ""], strict=False):
        getattr(form, name).data = value
    form.shuffle_questions.data = exam.shuffle_questions
    form.shuffle_options.data = exam.shuffle_options
    form.sections_yaml.data = sections_yaml(exam_sections(exam))


class PublishForm(FlaskForm):
    """Publish a draft (a POST with its CSRF token)."""
