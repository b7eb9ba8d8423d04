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


def _op(summary: str, ok: dict[str, Any], *, body: dict[str, Any] | None = None, errors=(401, 404, 409, 422),
        method: str = "post") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": _json(ok, "ok")}}
    for code in errors:
        op["responses"][str(code)] = _json(ERROR, {400: "missing CSRF header", 401: "not signed in",
                                                   403: "not allowed", 404: "not found (or not yours)",
                                                   409: "conflict: stale_tab, stale_sequence, time_over, "
                                                        "attempt_closed, not_open, closed",
                                                   422: "invalid request"}[code])
    if method == "post":
        op["responses"]["400"] = _json(ERROR, "missing CSRF header")
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body or {"type": "object"}}}}
    return {method: op}


_ID = {"name": "attempt_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_EXAM = {"name": "exam_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_TIMING = {"type": "object", "properties": {
    "server_time": {"type": "string", "format": "date-time"}, "deadline": {"type": "string", "format": "date-time"},
    "remaining_seconds": {"type": "integer"}, "grace_seconds": {"type": "integer"}, "state": {"type": "string"}}}

PATHS.update({
    "/api/exams": _op("The student's exams and their state", {"type": "object", "properties": {
        "server_time": {"type": "string"}, "exams": {"type": "array", "items": {"type": "object"}}}},
        errors=(401,), method="get"),
    "/api/exams/{exam_id}/pledge": {**_op("Accept the honesty pledge", {"type": "object"}, body={
        "type": "object", "properties": {"accept": {"type": "boolean"}}})},
    "/api/exams/{exam_id}/start": _op("Start the exam (idempotent)", {"allOf": [_TIMING, {"type": "object", "properties": {
        "attempt_id": {"type": "integer"}}}]}, body={"type": "object", "properties": {
            "access_code": {"type": "string"}}}, errors=(401, 403, 404, 409)),
    "/api/attempts/{attempt_id}/open": _op("Open the exam page: writer token, questions, saved answers, clock",
                                           {"type": "object"}, errors=(401, 404)),
    "/api/attempts/{attempt_id}/answers": _op("Save one answer", {"type": "object", "properties": {
        "receipt": {"type": "object", "properties": {"seq": {"type": "integer"}, "question_id": {"type": "integer"},
                                                     "saved_at": {"type": "string"}}},
        "replayed": {"type": "boolean"}}}, body={"type": "object", "required": ["token", "seq", "question_id"],
        "properties": {"token": {"type": "string"}, "seq": {"type": "integer", "minimum": 1},
                       "question_id": {"type": "integer"}, "answer": {}}}),
    "/api/attempts/{attempt_id}/heartbeat": _op("Heartbeat: server clock, remaining time, stale tab", {"allOf": [
        _TIMING, {"type": "object", "properties": {"stale_tab": {"type": "boolean"}}}]}, body={
        "type": "object", "properties": {"token": {"type": "string"}, "events": {"type": "array", "items": {
            "type": "object", "properties": {"kind": {"type": "string"}, "at": {"type": "string"}}}}}},
        errors=(401, 404)),
    "/api/attempts/{attempt_id}/submit": _op("Hand in the paper (idempotent)", {"type": "object", "properties": {
        "state": {"type": "string"}, "submitted_at": {"type": "string"}, "replayed": {"type": "boolean"}}},
        body={"type": "object", "properties": {"token": {"type": "string"}}}, errors=(401, 404, 409)),
    "/api/attempts/{attempt_id}/review": _op("Practice exams only: keys and explanations after submitting",
                                             {"type": "object"}, errors=(401, 403, 404), method="get"),
})
for _path, _item in PATHS.items():
    for _operation in _item.values():
        if "{attempt_id}" in _path:
            _operation.setdefault("parameters", [_ID])
        if "{exam_id}" in _path:
            _operation.setdefault("parameters", [_EXAM])
