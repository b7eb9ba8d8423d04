"""Log in and out (staff by username, students by exam number)."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import routes  # noqa: F401  (routes attach to bp)
