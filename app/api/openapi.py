"""The OpenAPI document of the JSON API, kept next to the routes and checked against them by a test."""
from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PATHS: dict[str, dict[str, Any]] = {
    "/api/time": {"get": {
        "summary": "Server time for clock-offset measurement", "security": [],
        "responses": {"200": _json({"type": "object", "required": ["server_time", "epoch_ms"], "properties": {
            "server_time": {"type": "string", "format": "date-time"}, "epoch_ms": {"type": "integer"}}},
            "the server's clock")}}},
    "/api/me": {"get": {
        "summary": "The signed-in user",
        "responses": {"200": _json({"type": "object", "properties": {
            "login_name": {"type": "string"}, "role": {"type": "string"}, "display_name": {"type": "string"}}},
            "who is signed in"), "401": _json(ERROR, "not signed in")}}},
    "/api/preferences": {"post": {
        "summary": "Remember the user's language",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["locale"], "properties": {"locale": {"enum": ["zh_CN", "en"]}}}}}},
        "responses": {"200": _json({"type": "object", "properties": {"locale": {"type": "string"}}}, "saved"),
                      "400": _json(ERROR, "missing CSRF header"), "401": _json(ERROR, "not signed in"),
                      "422": _json(ERROR, "unsupported language")}}},
    "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
}


def register(path: str, spec: dict[str, Any]) -> None:
    """Add the description of a path (used by blueprints that add API routes)."""
    PATHS.setdefault(path, {}).update(spec)


def build_spec() -> dict[str, Any]:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "英才计划在线测试 API / Yingcai online test API", "version": "1"},
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"}}}},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "yingcai_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"}},
        },
        "security": [{"session": [], "csrf": []}],
        "paths": PATHS,
    }
