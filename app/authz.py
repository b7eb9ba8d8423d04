"""Authorization declared on every view; anything undeclared is denied.

Each view carries a rule set by one of the decorators below. ``enforce`` runs before every
request, finds the rule of the endpoint and refuses what it does not allow. A route without a
rule is refused outright (deny by default), and ``tests/web/test_authz_meta.py`` walks the URL map
so such a route cannot be merged.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, abort, current_app, g, request, session
from flask_login import current_user

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class Rule:
    """Who may call a view: everyone (public), any signed-in user, or the listed roles."""

    public: bool = False
    roles: frozenset[str] | None = None  # None with public False: any signed-in user
    # The view checks the session token itself, inside its own query (see ``session_checked_in_view``).
    in_view: bool = False

    def allows(self, user) -> bool:
        """Whether ``user`` (possibly anonymous) passes this rule."""
        if self.public:
            return True
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return self.roles is None or user.role in self.roles


def _mark(rule: Rule) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        view.authz_rule = rule  # type: ignore[attr-defined]
        return view
    return decorator


def public(view: F) -> F:
    """Anyone, signed in or not."""
    return _mark(Rule(public=True))(view)


def signed_in(view: F) -> F:
    """Any signed-in user, whatever the role."""
    return _mark(Rule())(view)


def roles(*names: str) -> Callable[[F], F]:
    """Only signed-in users with one of these roles."""
    return _mark(Rule(roles=frozenset(names)))


def session_checked_in_view(*names: str) -> Callable[[F], F]:
    """Only these roles, with the session check moved into the view's own query (the autosave).

    ``enforce`` then only requires a session that names a user; it does not load the user. The view
    must compare ``g.session_token`` with the owner's current session token, active flag and role in
    the query that reads what it works on, and fall back to ``require_current_user`` when that does
    not match (an ended session still gets the same 401, a wrong role the same 403). This saves the
    per-request user query and the ORM user object on the hottest route.
    """
    return _mark(Rule(roles=frozenset(names), in_view=True))


def require_current_user(names: frozenset[str] | None) -> None:
    """The full check of ``enforce`` for a view that skipped it: 401 or 403 unless allowed."""
    if Rule(roles=names).allows(current_user):
        return
    if not current_user.is_authenticated:
        from app.extensions import login_manager

        # login_manager.unauthorized() redirects pages to /login and answers JSON 401 under /api.
        abort(login_manager.unauthorized())
    abort(403)


STAFF = ("admin", "league_admin", "teacher", "proctor")
ADMINS = ("admin", "league_admin")


def rule_for(endpoint: str | None) -> Rule | None:
    """The rule declared on the view behind ``endpoint`` (static files are public)."""
    if endpoint is None:
        return None
    if endpoint == "static" or endpoint.endswith(".static"):
        return Rule(public=True)
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "authz_rule", None)


def enforce() -> None:
    """Before each request: 401 for anonymous users on protected views, 403 for the wrong role."""
    if request.endpoint is None:
        return  # 404/405 follow
    rule = rule_for(request.endpoint)
    if rule is None:
        abort(403)
    if rule.public:
        return
    if rule.in_view and isinstance(session.get("_user_id"), str) and session["_user_id"]:
        g.session_token = session["_user_id"]  # Flask-Login keeps the user's session token there
        return
    require_current_user(rule.roles)


def init_app(app: Flask) -> None:
    """Install the deny-by-default check."""
    app.before_request(enforce)
