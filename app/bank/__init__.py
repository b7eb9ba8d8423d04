"""Question banks for teachers: list, edit with live preview, review, history, import and export."""
from flask import Blueprint

bp = Blueprint("bank", __name__)

from app.bank import routes, transfer  # noqa: F401
