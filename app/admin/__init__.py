"""The office's pages: dashboard, users, audit trail."""
from flask import Blueprint

bp = Blueprint("admin", __name__)

from app.admin import routes  # noqa: F401
