"""What every results view needs: the acting staff member, the exam, the league scope, refusals."""
from __future__ import annotations

from flask import abort, flash, redirect, request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.i18n import is_zh
from app.models import Exam, League
from app.services import audit
from app.services.dashboards import league_scope
from app.services.rankings import ResultsError


def staff_actor() -> audit.Actor:
    return audit.Actor(current_user.id, current_user.login_name, request.remote_addr)


def exam_or_404(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or exam.kind != "selection" or exam.state == "draft":
        abort(404)
    return exam


def league_in_scope(requested: str | None) -> str | None:
    """The league a page may show: a league admin's own (another one is a 403), else the one asked for."""
    scope = league_scope(current_user)
    if scope:
        if requested and requested != scope:
            abort(403)
        return scope
    return requested or None


def message(exc: ResultsError) -> str:
    return exc.zh if is_zh() else exc.en


def refused(exc: ResultsError, target: str):
    db.session.rollback()
    flash(message(exc), "error")
    return redirect(target)


def form_error(form) -> str:
    return "；".join(f"{getattr(form, name).label.text}: {'；'.join(errors)}" for name, errors in form.errors.items())


def all_leagues() -> list[League]:
    return list(db.session.scalars(select(League).order_by(League.code)))
