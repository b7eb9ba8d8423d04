"""Imports every module that registers job handlers, so a worker knows all job kinds."""
from app.services import jobs  # noqa: F401  (the runner's own handlers)
from app.services import slips, student_import  # noqa: F401,E402  (students.import, slips.generate)
from app.services import exports, regrade  # noqa: F401,E402  (results.export, regrade.apply)
