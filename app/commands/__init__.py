"""CLI command groups, one module per domain; registered by app.cli."""
