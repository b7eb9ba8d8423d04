"""Item analysis for teachers of a subject and admins: an exam's analysis, a question across exams, the report."""
from flask import Blueprint

bp = Blueprint("analysis", __name__)

from app.analysis import routes  # noqa: F401
