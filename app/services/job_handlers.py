"""Imports every module that registers job handlers, so a worker knows all job kinds.

jobs: the runner's own handlers; student_import: students.import; slips: slips.generate;
exports: results.export; regrade: regrade.apply and regrade.dry_run.
"""
from app.services import exports, jobs, regrade, slips, student_import  # noqa: F401
