"""Login rate limits: per account (failures only) and per source, with Redis or without it."""
from __future__ import annotations

import pytest

from app.extensions import limiter
from tests.conftest import login


def test_ten_failures_lock_the_account_not_the_room(app, make):
    victim = make.user(role="teacher")
    other = make.user(role="teacher")
    client = app.test_client()
    for _ in range(10):
        assert login(client, victim.login_name, "wrong-password").status_code == 401
    assert login(client, victim.login_name).status_code == 429  # even the right password waits
    assert login(app.test_client(), other.login_name).status_code == 302  # same source, other account


def test_successful_logins_do_not_count_as_failures(app, make):
    user = make.user(role="teacher")
    for _ in range(12):
        assert login(app.test_client(), user.login_name).status_code == 302


def test_sixty_students_behind_one_address_all_log_in(app, make):
    """A school computer room behind one NAT address: nobody is locked out by the others."""
    students = [make.student() for _ in range(60)]
    for student in students:
        client = app.test_client()
        assert login(client, student.exam_number).status_code == 302
        assert client.get("/exam/").status_code == 200


def test_per_source_limit(app, make):
    app.config["RATELIMIT_LOGIN_SOURCE"] = "5 per minute"
    try:
        user = make.user(role="teacher")
        codes = [login(app.test_client(), user.login_name).status_code for _ in range(6)]
        assert codes[:5] == [302] * 5 and codes[5] == 429
    finally:
        app.config["RATELIMIT_LOGIN_SOURCE"] = "300 per minute"


def test_429_is_json_under_api_shape(app, make):
    app.config["RATELIMIT_LOGIN_SOURCE"] = "1 per minute"
    try:
        user = make.user(role="teacher")
        login(app.test_client(), user.login_name)
        response = login(app.test_client(), user.login_name)
        assert response.status_code == 429
        assert "请求过于频繁" in response.get_data(as_text=True)
    finally:
        app.config["RATELIMIT_LOGIN_SOURCE"] = "300 per minute"


@pytest.fixture
def own_limiter():
    """The limiter is one object per process; a second app re-binds it, so restore it afterwards."""
    saved = dict(limiter.__dict__)
    yield
    limiter.__dict__.clear()
    limiter.__dict__.update(saved)


def test_login_works_with_redis_down(database_url, tmp_path, own_limiter):
    """REDIS_URL points at a dead port: the limiter falls back to memory and logins go on."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from tests import factories
    from tests.conftest import test_config

    url = "sqlite:///" + str(tmp_path / "redis-down.sqlite3")
    app = create_app(test_config(url, REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI=""))
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/0"
    with app.app_context():
        upgrade()
        user = factories.Factory(db.session, app.config).user(role="teacher")
        db.session.commit()
        name = user.login_name
    try:
        for _ in range(3):
            assert login(app.test_client(), name).status_code == 302
    finally:
        with app.app_context():
            db.engine.dispose()


def test_login_uses_redis_when_it_is_up(database_url, tmp_path, own_limiter):
    """With Redis running, failures are counted there (shared by every node)."""
    import redis
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from tests import factories
    from tests.conftest import test_config

    r = redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=0.5)
    try:
        r.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running here (.ci/run starts it)")
    r.flushdb()
    url = "sqlite:///" + str(tmp_path / "redis-up.sqlite3")
    app = create_app(test_config(url, REDIS_URL="redis://127.0.0.1:6379/15", RATELIMIT_STORAGE_URI=""))
    with app.app_context():
        upgrade()
        user = factories.Factory(db.session, app.config).user(role="teacher")
        db.session.commit()
        name = user.login_name
    for _ in range(10):
        assert login(app.test_client(), name, "wrong").status_code == 401
    assert login(app.test_client(), name).status_code == 429
    assert any(b"login:" in k for k in r.keys("*"))
    r.flushdb()
    with app.app_context():
        db.engine.dispose()
