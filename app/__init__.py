"""The application factory. It wires things together and does nothing else."""
from __future__ import annotations

from typing import Any

from flask import Flask

from app.config import load_config


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app: defaults, then environment, then ``overrides``.

    No rows are written, no network connection is opened and no table is created here:
    the schema belongs to Alembic (``flask db upgrade``).
    """
    app = Flask(__name__, instance_relative_config=True)
    from app.database import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter  # before any route: ids above the database's range are 404s
    app.config.update(load_config())
    if overrides:
        app.config.update(overrides)
    if app.config.get("PROXY_COUNT"):
        # Behind nginx/a load balancer: take the client address from X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from app import database, errors, i18n, ratelimits, security
    from app.auth.session import init_login
    from app.cli import register_cli

    database.init_app(app)
    i18n.init_app(app)
    init_login(app)  # before CSRF: an anonymous API call is a 401, not a CSRF 400
    security.init_app(app)
    ratelimits.init_app(app)
    errors.init_app(app)
    _register_blueprints(app)
    register_cli(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from app.admin import bp as admin_bp
    from app.analysis import bp as analysis_bp
    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.bank import bp as bank_bp
    from app.exam import bp as exam_bp
    from app.exams import bp as exams_bp
    from app.jobs import bp as jobs_bp
    from app.main import bp as main_bp
    from app.ops import bp as ops_bp
    from app.results import bp as results_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(analysis_bp, url_prefix="/analysis")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(jobs_bp, url_prefix="/jobs")
    app.register_blueprint(bank_bp, url_prefix="/bank")
    app.register_blueprint(exam_bp, url_prefix="/exam")
    app.register_blueprint(exams_bp, url_prefix="/exams")
    app.register_blueprint(ops_bp, url_prefix="/ops")
    app.register_blueprint(results_bp, url_prefix="/results")
