"""Students taking exams: my exams, the lobby (device check, pledge, waiting room), the exam page."""
from flask import Blueprint

bp = Blueprint("exam", __name__)

from app.exam import routes  # noqa: F401
