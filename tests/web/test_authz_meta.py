"""Every route declares who may call it, and the roles × routes matrix holds."""
from __future__ import annotations

import re

import pytest
from werkzeug.routing import IntegerConverter

from app.authz import Rule, rule_for


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        yield rule


def test_every_route_declares_an_authorization_rule(app):
    missing = []
    with app.test_request_context():
        for rule in _routes(app):
            if not isinstance(rule_for(rule.endpoint), Rule):
                missing.append(f"{rule.rule} ({rule.endpoint})")
    assert missing == [], "routes without a declared rule: " + ", ".join(missing)


def _sample_url(rule) -> str:
    url = rule.rule
    for name, conv in rule._converters.items():
        value = "1" if isinstance(conv, IntegerConverter) else "x"  # app.database.RowIdConverter is one
        url = re.sub(r"<(?:[^:<>]+:)?" + name + ">", value, url)
    return url


def _allowed(rule_obj: Rule, role: str | None) -> bool:
    if rule_obj.public:
        return True
    if role is None:
        return False
    return rule_obj.roles is None or role in rule_obj.roles


@pytest.mark.parametrize("role", [None, "student", "proctor", "teacher", "league_admin", "admin"])
def test_role_route_matrix(app, as_role, role):
    """For every GET route: a role outside the rule gets 403 (401/redirect when anonymous)."""
    client = app.test_client() if role is None else as_role(role)[0]
    checked = 0
    with app.test_request_context():
        rules = [(r, rule_for(r.endpoint)) for r in _routes(app) if "GET" in r.methods]
    for rule, declared in rules:
        if _allowed(declared, role):
            continue
        response = client.get(_sample_url(rule))
        checked += 1
        if role is None:
            assert response.status_code in (302, 401), (rule.rule, response.status_code)
        else:
            assert response.status_code == 403, (rule.rule, role, response.status_code)
    if role in (None, "student"):
        assert checked > 3


@pytest.mark.parametrize("role", [None, "student", "proctor", "teacher", "league_admin", "admin"])
def test_role_route_matrix_for_writes(app, as_role, role):
    """For every POST route: a role outside the rule gets 403 (JSON 401 or a redirect when anonymous),
    with a valid CSRF token, so it is the authorization that refuses and nothing is written."""
    from tests.conftest import csrf_token

    client = app.test_client() if role is None else as_role(role)[0]
    token = csrf_token(client, "/login" if role is None else "/home")
    checked = 0
    with app.test_request_context():
        rules = [(r, rule_for(r.endpoint)) for r in _routes(app) if "POST" in r.methods]
    for rule, declared in rules:
        if _allowed(declared, role):
            continue
        response = client.post(_sample_url(rule), data={"csrf_token": token}, headers={"X-CSRFToken": token})
        checked += 1
        if role is None:
            assert response.status_code in (302, 401), (rule.rule, response.status_code)
        else:
            assert response.status_code == 403, (rule.rule, role, response.status_code)
    if role in (None, "student", "teacher"):
        assert checked > 10


def test_student_gets_403_on_every_staff_page(app, as_role):
    client, _ = as_role("student")
    for path in ("/admin/", "/admin/users", "/admin/audit", "/jobs/"):
        assert client.get(path).status_code == 403, path


def test_undeclared_view_is_denied(app):
    """Deny by default: a view registered without a rule answers 403 even to an admin."""
    from flask import Flask

    from app import authz

    probe = Flask("probe")
    probe.config["SECRET_KEY"] = "x"
    authz.init_app(probe)

    @probe.route("/undeclared")
    def undeclared():
        return "should not be served"

    from flask_login import LoginManager

    LoginManager(probe)
    assert probe.test_client().get("/undeclared").status_code == 403
