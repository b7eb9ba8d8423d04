"""Forms of the question bank pages (Flask-WTF: every POST carries the CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional

from app.bank.editing import MAX_TEXT

ACTIONS = ("submit", "approve", "reject", "retire", "restore")
BULK_ACTIONS = ("submit", "retire", "tag")


class EditorForm(FlaskForm):
    """One question as YAML, with its subject and topic; images may be uploaded with it."""

    subject = SelectField(_l("学科"), validators=[DataRequired()])
    topic = StringField(_l("专题"), validators=[Optional(), Length(max=128)])
    yaml_text = TextAreaField(_l("试题内容（YAML）"), validators=[DataRequired(), Length(max=MAX_TEXT)],
                              render_kw={"rows": 28, "spellcheck": "false", "autocomplete": "off"})
    note = StringField(_l("修改说明"), validators=[Optional(), Length(max=255)])
    image_map = HiddenField()
    images = MultipleFileField(_l("上传图片"))


class TransitionForm(FlaskForm):
    """A review step (submit, approve, reject, retire, restore), with an optional comment."""

    action = HiddenField(validators=[AnyOf(ACTIONS)])
    comment = TextAreaField(_l("意见"), validators=[Optional(), Length(max=4000)])


class CommentForm(FlaskForm):
    """A review comment on the current version."""

    text = TextAreaField(_l("评论"), validators=[DataRequired(), Length(max=4000)], render_kw={"rows": 3})


class BulkForm(FlaskForm):
    """An action on the questions ticked in the list (their ids come as repeated ``ids`` fields)."""

    action = SelectField(_l("批量操作"), choices=[SelectChoice("submit", _l("提交审核")),
                                                 SelectChoice("retire", _l("停用")),
                                                 SelectChoice("tag", _l("添加知识点"))], validators=[AnyOf(BULK_ACTIONS)])
    tag = StringField(_l("知识点"), validators=[Optional(), Length(max=200)])
    next = HiddenField()


class ImportForm(FlaskForm):
    """Files to import, dry run first by default, what to do with duplicates, and the subject."""

    files = MultipleFileField(_l("题库文件"))
    dry_run = BooleanField(_l("试运行（只检查，不写入）"), default=True)
    on_duplicate = RadioField(_l("遇到重复的试题"), choices=[SelectChoice("skip", _l("跳过")),
                                                                     SelectChoice("update", _l("更新已有试题"))],
                              default="skip", validators=[InputRequired(), AnyOf(("skip", "update"))])
    subject = SelectField(_l("学科"), validators=[Optional()])


class ExportForm(FlaskForm):
    """Subject and format of an export (a GET form: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    subject = SelectField(_l("学科"), validators=[DataRequired()])
    format = SelectField(_l("格式"), choices=[SelectChoice("yaml", _l("原生 YAML（zip）")),
                                             SelectChoice("moodle-xml", "Moodle XML"), SelectChoice("gift", "GIFT"),
                                             SelectChoice("xlsx", _l("Excel 模板"))],
                         validators=[DataRequired()])
