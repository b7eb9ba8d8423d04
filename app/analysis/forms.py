"""Forms of the analysis pages."""
from flask_wtf import FlaskForm


class WriteBackForm(FlaskForm):
    """Write the exam's Rasch difficulties back to the question bank (a POST with its CSRF token)."""
