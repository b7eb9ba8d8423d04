"""Imports every module that registers job handlers, so a worker knows all job kinds."""
from app.services import jobs  # noqa: F401  (the runner's own handlers)
