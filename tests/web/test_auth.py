"""Login, logout, sessions that end on a new login, and role home pages."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask.sessions import SecureCookieSessionInterface

from tests.conftest import csrf_token, login


@pytest.mark.parametrize("role,landing,text", [
    ("student", "/exam/", "我的考试"),
    ("teacher", "/home", "我的题库"),
    ("proctor", "/home", "我的考场"),
    ("admin", "/admin/", "管理概览"),
    ("league_admin", "/admin/", "管理概览"),
])
def test_each_role_logs_in_and_sees_its_chinese_home(app, make, role, landing, text):
    user = make.student().user if role == "student" else make.user(role=role)
    client = app.test_client()
    response = login(client, user.login_name)
    assert response.status_code == 302
    page = client.get("/home", follow_redirects=True)
    assert page.status_code == 200
    assert text in page.get_data(as_text=True)
    assert page.request.path == landing


def test_student_logs_in_with_exam_number_keeping_leading_zeros(app, make):
    student = make.student(exam_number="0012345")
    assert student.exam_number == "0012345"
    client = app.test_client()
    assert login(client, "0012345").status_code == 302
    assert "0012345" in client.get("/home", follow_redirects=True).get_data(as_text=True)
    assert login(app.test_client(), "12345").status_code == 401


def test_wrong_password_and_unknown_user_get_the_same_answer(app, make):
    user = make.user(role="teacher")
    wrong = login(app.test_client(), user.login_name, "wrong-password")
    unknown = login(app.test_client(), "nobody-here", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名/准考证号或密码错误" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("错误") == unknown.get_data(as_text=True).count("错误")


def test_logout_ends_the_session(app, make):
    user = make.user(role="teacher")
    client = app.test_client()
    login(client, user.login_name)
    token = csrf_token(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/home").status_code == 302  # back to the login page


def test_a_new_login_ends_the_other_session(app, make):
    student = make.student()
    first, second = app.test_client(), app.test_client()
    login(first, student.exam_number)
    assert first.get("/exam/").status_code == 200
    login(second, student.exam_number)
    assert second.get("/exam/").status_code == 200
    assert first.get("/exam/").status_code == 302  # back to the login page
    api = first.get("/api/me")
    assert api.status_code == 401 and api.is_json


def test_disabled_user_cannot_log_in(app, make, db_session):
    user = make.user(role="teacher")
    user.is_active = False
    db_session.flush()
    assert login(app.test_client(), user.login_name).status_code == 401


def test_login_redirect_is_never_offsite(app, make):
    user = make.user(role="teacher")
    client = app.test_client()
    page = client.get("/login")
    import re
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
    response = client.post("/login?next=//evil.example/x", data={
        "login_name": user.login_name, "password": "correct-horse-42", "csrf_token": token})
    assert response.headers["Location"] == "/home"


def test_api_without_login_is_json_401_not_a_redirect(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.is_json and response.json["error"] == "unauthorized"


def test_session_cookie_is_httponly_samesite_and_permanent(app, make):
    user = make.user(role="teacher")
    client = app.test_client()
    response = login(client, user.login_name)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("yingcai_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # permanent: outlives the browser tab for the whole exam day
    assert app.permanent_session_lifetime >= timedelta(hours=4)


def test_production_cookies_are_secure(database_url):
    from app import create_app
    from tests.conftest import test_config

    prod = create_app(test_config(database_url, ENV_NAME="production"))
    assert prod.config["SESSION_COOKIE_SECURE"] is True


def test_production_refuses_to_start_without_a_real_secret(database_url):
    from app import create_app
    from tests.conftest import test_config

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(test_config(database_url, ENV_NAME="production", SECRET_KEY=""))
    with pytest.raises(RuntimeError):
        create_app(test_config(database_url, ENV_NAME="production", SECRET_KEY="change-me"))


def test_json_post_three_hours_after_page_load_still_passes_csrf(app, make, monkeypatch):
    """An autosave-like POST 3 hours after the page loaded: CSRF tokens do not expire in a session."""
    import itsdangerous.timed

    student = make.student()
    client = app.test_client()
    login(client, student.exam_number)
    token = csrf_token(client)
    later = itsdangerous.timed.TimestampSigner.get_timestamp(None) + 3 * 3600  # type: ignore[arg-type]
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: later)
    response = client.post("/api/preferences", json={"locale": "en"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.data
    assert response.json["locale"] == "en"
    # and the same POST without the header is refused as JSON
    refused = client.post("/api/preferences", json={"locale": "en"})
    assert refused.status_code == 400 and refused.json["error"] == "csrf"


def test_session_interface_uses_the_permanent_lifetime(app):
    assert isinstance(app.session_interface, SecureCookieSessionInterface)
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
