"""League admins see only their league; security headers on every page."""
from __future__ import annotations

from app.services.audit import Actor


def test_league_admin_sees_only_their_league(as_role, make):
    make.student(league_code="150100", name="呼和考生")
    make.student(league_code="150200", name="包头考生")
    client, _ = as_role("league_admin", league_code="150100")
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert "呼和浩特市" in dashboard and "包头市" not in dashboard
    users = client.get("/admin/users?role=student").get_data(as_text=True)
    assert "呼和考生" in users and "包头考生" not in users


def test_admin_sees_every_league(as_role, make):
    make.student(league_code="150200", name="包头考生")
    client, _ = as_role("admin")
    assert "包头市" in client.get("/admin/").get_data(as_text=True)
    assert "包头考生" in client.get("/admin/users?q=包头").get_data(as_text=True)


def test_league_admin_audit_trail_is_scoped(as_role, make, db_session, now):
    from app.services import audit

    audit.record(db_session, actor=Actor(None, "x"), action="demo.other_league", object_type="t",
                 now=now, league_code="150200")
    audit.record(db_session, actor=Actor(None, "x"), action="demo.own_league", object_type="t",
                 now=now, league_code="150100")
    db_session.flush()
    client, _ = as_role("league_admin", league_code="150100")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "demo.own_league" in page and "demo.other_league" not in page


def test_security_headers_and_csp_without_inline_script(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)


def test_english_is_selectable_and_remembered(app, make):
    from tests.conftest import login

    user = make.user(role="teacher")
    client = app.test_client()
    login(client, user.login_name)
    page = client.get("/home").get_data(as_text=True)
    assert "我的题库" in page
    token = __import__("re").search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/lang/en", data={"csrf_token": token, "next": "/home"})
    assert response.status_code == 302
    assert "My question banks" in client.get("/home").get_data(as_text=True)
    assert "Log in" in app.test_client(use_cookies=True).get("/login?lang=en").get_data(as_text=True)
