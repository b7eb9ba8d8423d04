"""Languages (zh_CN by default, en on request) and display time zone."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import format_datetime, get_locale, lazy_gettext
from flask_login import current_user

from app.extensions import babel

LOCALE_COOKIE = "yingcai_lang"


def select_locale() -> str:
    """The reader's language: an explicit choice (session, cookie, account), else Chinese."""
    supported = current_app.config["LANGUAGES"]
    for candidate in (
        request.args.get("lang"),
        session.get("lang"),
        request.cookies.get(LOCALE_COOKIE),
        getattr(current_user, "locale", None) if current_user and current_user.is_authenticated else None,
    ):
        if candidate in supported:
            return candidate
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def display_zone() -> ZoneInfo:
    """The zone times are shown in (``YINGCAI_TIMEZONE``, Asia/Shanghai by default)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_time(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a UTC timestamp in the display zone; empty for None."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(display_zone()).replace(tzinfo=None), fmt)


def is_zh() -> bool:
    """Whether the current reader reads Chinese."""
    return str(get_locale()).startswith("zh")


TYPE_LABELS = {
    "single": lazy_gettext("单选题"), "multiple": lazy_gettext("多选题"), "true_false": lazy_gettext("判断题"),
    "fill_blank": lazy_gettext("填空题"), "ordering": lazy_gettext("排序题"), "matching": lazy_gettext("匹配题"),
    "short_answer": lazy_gettext("简答题"), "group": lazy_gettext("材料题"),
}
STATUS_LABELS = {
    "draft": lazy_gettext("草稿"), "submitted": lazy_gettext("待审核"), "approved": lazy_gettext("已通过"),
    "retired": lazy_gettext("已停用"),
}


EXAM_STATE_LABELS = {
    "upcoming": lazy_gettext("未开始"), "open": lazy_gettext("可以开始"), "in_progress": lazy_gettext("作答中"),
    "submitted": lazy_gettext("已交卷"), "closed": lazy_gettext("已结束"), "results": lazy_gettext("成绩已公布"),
}


def exam_state_label(state: str) -> str:
    """A student's exam state in the reader's language."""
    return str(EXAM_STATE_LABELS.get(state, state))


def type_label(qtype: str) -> str:
    """A question type's name in the reader's language."""
    return str(TYPE_LABELS.get(qtype, qtype))


def status_label(status: str) -> str:
    """A question status in the reader's language."""
    return str(STATUS_LABELS.get(status, status))


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and the template helpers."""
    import os

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", os.path.join(app.root_path, "translations"))
    babel.init_app(app, locale_selector=select_locale)
    _install_template_gettext(app)
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals["is_zh"] = is_zh
    app.jinja_env.globals["type_label"] = type_label
    app.jinja_env.globals["exam_state_label"] = exam_state_label
    app.jinja_env.globals["status_label"] = status_label
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())


def _install_template_gettext(app: Flask) -> None:
    """Template ``_()`` that looks the request's translations up once, not at every call.

    Flask-Babel's template callables resolve the domain, the context and the locale on each of
    the few hundred ``_()`` calls of the exam page (about a fifth of its rendering time, profiled
    in docs/performance.md). The locale is fixed for a request (Flask-Babel caches it too), so
    the translations object is kept in ``g`` for the rest of the request.
    """
    from flask import g
    from flask_babel import get_translations

    def translations():
        found = g.get("_i18n_translations")
        if found is None:
            found = g._i18n_translations = get_translations()
        return found

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
