"""The JSON API used by the exam page, the load kit and automation."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import attempts, routes  # noqa: F401
