"""Results: rankings, selection, publication, exports, regrades, voiding, score reviews and grading."""
from flask import Blueprint

bp = Blueprint("results", __name__)

from app.results import corrections_routes, grading_routes, routes, student_routes  # noqa: F401
