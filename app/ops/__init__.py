"""Exam-day operations: student import, rooms and seats, login slips, the live monitor, the proctor's room."""
from flask import Blueprint

bp = Blueprint("ops", __name__)

from app.ops import importing, live, rooms, routes  # noqa: F401
