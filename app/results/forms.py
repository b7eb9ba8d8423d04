"""Forms of the results pages (Flask-WTF: every POST carries the CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (compute, verify, mark absentees)."""


class PublishForm(FlaskForm):
    """Publish the results, optionally with a public list (masked names)."""

    public_list = BooleanField(_l("同时公开入围名单（姓名、准考证号打码）"))
    reason = StringField(_l("发布说明"), validators=[Optional(), Length(max=500)])


class SettingsForm(FlaskForm):
    """Grading and publication settings of an exam."""

    double_marking = BooleanField(_l("简答题双评（两位教师独立评分）"))
    double_threshold = DecimalField(_l("双评分差阈值（超过则第三人仲裁）"), places=2,
                                    validators=[InputRequired(), NumberRange(min=0, max=1000)])
    review_days = IntegerField(_l("成绩复核期（天）"), validators=[InputRequired(), NumberRange(min=0, max=60)])


class VoidRequestForm(FlaskForm):
    """Ask for an attempt to be voided (违纪作废): the exam number and the reason."""

    exam_number = StringField(_l("准考证号"), validators=[DataRequired(), Length(max=32)])
    reason = TextAreaField(_l("作废原因"), validators=[DataRequired(), Length(min=4, max=2000)], render_kw={"rows": 3})


class VoidDecisionForm(FlaskForm):
    """The second staff member's decision on a voiding."""

    decision = HiddenField(validators=[AnyOf(("approve", "reject"))])
    note = StringField(_l("审批意见"), validators=[Optional(), Length(max=500)])


class AbsentForm(FlaskForm):
    """Mark one student absent (缺考)."""

    exam_number = StringField(_l("准考证号"), validators=[DataRequired(), Length(max=32)])
    reason = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class RegradeForm(FlaskForm):
    """A regrade dry run: a corrected key, another version, or a section's policy, with the reason."""

    kind = SelectField(_l("改动"), choices=[SelectChoice("key", _l("更正答案")),
                                           SelectChoice("version", _l("改用题目的其他版本")),
                                           SelectChoice("policy", _l("修改部分的评分规则"))],
                       validators=[AnyOf(("key", "version", "policy"))])
    question = IntegerField(_l("题目"), validators=[Optional()])
    answer = StringField(_l("正确答案（JSON，如 \"b\"、[\"a\",\"c\"]、true）"), validators=[Optional(), Length(max=2000)])
    version_id = IntegerField(_l("版本"), validators=[Optional()])
    section = IntegerField(_l("部分"), validators=[Optional()])
    policy = StringField(_l("评分规则"), validators=[Optional(), Length(max=32)])
    reason = TextAreaField(_l("原因"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 2})


class GradeForm(FlaskForm):
    """One grader's points for one blind answer."""

    token = HiddenField(validators=[DataRequired()])
    points = DecimalField(_l("得分"), places=2, validators=[InputRequired(), NumberRange(min=0)])
    comment = StringField(_l("评语（可选）"), validators=[Optional(), Length(max=1000)])


class ReviewRequestForm(FlaskForm):
    """A student's score review request (成绩复核)."""

    reason = TextAreaField(_l("复核理由"), validators=[DataRequired(), Length(min=2, max=1000)], render_kw={"rows": 3})


class ReviewResolveForm(FlaskForm):
    """Staff answer a score review; a change corrects one manually graded answer."""

    outcome = SelectField(_l("处理结果"), choices=[SelectChoice("unchanged", _l("成绩无误")),
                                                   SelectChoice("changed", _l("更正成绩")),
                                                   SelectChoice("rejected", _l("不予受理"))],
                          validators=[AnyOf(("unchanged", "changed", "rejected"))])
    response = TextAreaField(_l("答复考生"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 3})
    item = StringField(_l("更正的题目"), validators=[Optional(), Length(max=100)])
    points = DecimalField(_l("更正后的得分"), places=2, validators=[Optional(), NumberRange(min=0)])
