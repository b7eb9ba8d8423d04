"""Pages that show background jobs and their progress."""
from flask import Blueprint

bp = Blueprint("jobs", __name__)

from app.jobs import routes  # noqa: F401
