"""Exam authoring for teachers of a subject and admins: list, form, availability, publish, preview."""
from flask import Blueprint

bp = Blueprint("exams", __name__)

from app.exams import routes  # noqa: F401
