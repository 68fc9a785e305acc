"""One JSON error body for every HTTP error, the framework's own refusals included, and
OpenAPI schemas that say so."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from store_server.app import create_app
from store_server.config import Settings
from store_server.db import make_engine
from store_server.http_errors import MAX_PROBLEMS, validation_error
from store_server.shared.errors import BadMessage, InvalidInput
from tests.accounts import auth_headers, make_user

SECRET = "hunter2-do-not-echo"


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    engine = make_engine(sqlite_url)
    make_user(engine, "root", "admin", None)
    make_user(engine, "olga", "operator", None)
    engine.dispose()
    with TestClient(create_app(Settings(database_url=sqlite_url, environment="test"))) as client:
        yield client


def error_of(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# --- pure: the framework's validation errors as a CaddieError -------------------------------


def test_each_problem_names_its_field_and_where_it_was() -> None:
    exc = validation_error(
        [
            {"type": "missing", "loc": ("body", "password"), "msg": "Field required"},
            {"type": "int_parsing", "loc": ("query", "limit"), "msg": "Input should be..."},
            {"type": "string_type", "loc": ("body", "lines", 0, "code"), "msg": "Bad"},
            {"type": "missing", "loc": ("body",), "msg": "Field required"},
            {"type": "missing", "loc": ("header", "x-caddie-device"), "msg": "Field required"},
        ]
    )
    assert isinstance(exc, InvalidInput) and exc.http_status == 422
    assert exc.details["problems"] == [
        "password: Field required",
        "limit (query parameter): Input should be...",
        "lines.0.code: Bad",
        "body: Field required",
        "x-caddie-device (header parameter): Field required",
    ]
    assert exc.message == "; ".join(exc.details["problems"])  # type: ignore[arg-type]


def test_values_sent_are_never_echoed_and_problems_are_bounded() -> None:
    many = [
        {"type": "string_type", "loc": ("body", f"f{i}"), "msg": "x" * 500, "input": SECRET}
        for i in range(MAX_PROBLEMS + 5)
    ]
    exc = validation_error(many)
    problems = exc.details["problems"]
    assert isinstance(problems, list) and len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "... and 5 more"
    assert all(len(p) <= 200 for p in problems)
    assert SECRET not in exc.message


def test_a_body_that_is_not_json_is_a_bad_message() -> None:
    exc = validation_error(
        [{"type": "json_invalid", "loc": ("body", 3), "msg": "JSON decode error", "input": {}}]
    )
    assert isinstance(exc, BadMessage) and exc.http_status == 422


# --- the store server -----------------------------------------------------------------------


def test_validation_errors_use_the_error_body(client: TestClient) -> None:
    wrong_types = client.post("/api/auth/login", json={"username": 5, "password": [SECRET]})
    error = error_of(wrong_types, 422, "invalid_input")
    assert error["problems"] == [
        "username: Input should be a valid string",
        "password: Input should be a valid string",
    ]
    assert SECRET not in wrong_types.text
    missing = error_of(client.post("/api/auth/login", json={}), 422, "invalid_input")
    assert missing["problems"] == ["username: Field required", "password: Field required"]
    not_json = client.post(
        "/api/auth/login", content=b'{"username": ', headers={"content-type": "application/json"}
    )
    assert error_of(not_json, 422, "bad_message")["message"] == "the body is not valid JSON"
    admin = auth_headers(client, "root")
    limit = client.get("/api/catalog/products?limit=many", headers=admin)
    assert error_of(limit, 422, "invalid_input")["problems"] == [
        "limit (query parameter): Input should be a valid integer, unable to parse string as an "
        "integer"
    ]
    devices = client.post("/api/devices", json={"device_ids": []}, headers=admin)
    assert error_of(devices, 422, "invalid_input")["problems"][0].startswith("device_ids: ")


def test_framework_refusals_use_the_error_body(client: TestClient) -> None:
    error_of(client.get("/api/no-such-thing"), 404, "not_found")
    wrong_method = client.delete("/healthz")
    error_of(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"
    error_of(client.get("/static/checkout/no-such-file.js"), 404, "not_found")
    error_of(client.get("/signage/no-such-thing"), 404, "not_found")


def test_signage_validation_errors_use_the_error_body(client: TestClient) -> None:
    operator = auth_headers(client, "olga")
    no_day = client.get("/signage/api/availability", headers=operator)
    assert error_of(no_day, 422, "invalid_input")["problems"] == [
        "day (query parameter): Field required"
    ]


def test_the_standalone_signage_app_uses_the_error_body(tmp_path: Path) -> None:
    from signage.app import create_standalone_app
    from store_server.db import migrate

    url = f"sqlite:///{tmp_path / 'signage.db'}"
    migrate(url)
    app = create_standalone_app(Settings(database_url=url, environment="test"))
    with TestClient(app) as standalone:
        error_of(standalone.post("/api/auth/login", json={}), 422, "invalid_input")
        error_of(standalone.get("/nothing-here"), 404, "not_found")
        error_of(standalone.get("/signage/api/screens"), 401, "unauthorized")
        # its login takes a small JSON body, as the store server's does
        big = b'{"username": "' + b"x" * 70_000 + b'"}'
        error_of(standalone.post("/api/auth/login", content=big), 413, "too_large")


# --- the OpenAPI schemas say so --------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas() -> Iterator[dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(database_url=f"sqlite:///{folder}/x.db", environment="test"))
        signage = next(r.app for r in app.routes if getattr(r, "path", "") == "/signage")
        assert isinstance(signage, FastAPI)
        yield {"store": app.openapi(), "signage": signage.openapi()}


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.mark.parametrize("app", ["store", "signage"])
def test_no_schema_declares_the_frameworks_own_error_body(
    schemas: dict[str, dict[str, Any]], app: str
) -> None:
    text = json.dumps(schemas[app])
    assert "HTTPValidationError" not in text and '"detail"' not in text


@pytest.mark.parametrize("app", ["store", "signage"])
def test_every_operation_with_input_declares_its_422(
    schemas: dict[str, dict[str, Any]], app: str
) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in operations(schemas[app])
        if (operation.get("parameters") or operation.get("requestBody"))
        and _error_schema(operation, "422") is None
    ]
    assert not missing, missing


def _error_schema(operation: dict[str, Any], status: str) -> str | None:
    response = operation["responses"].get(status)
    if response is None:
        return None
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def test_every_signage_operation_declares_its_error_replies(
    schemas: dict[str, dict[str, Any]],
) -> None:
    for method, path, operation in operations(schemas["signage"]):
        for status in ("401", "403", "503"):
            assert _error_schema(operation, status) == "ErrorReply", (method, path, status)
    loop = schemas["signage"]["paths"]["/screens/{screen_id}/loop"]["get"]["responses"]
    assert {"401", "403", "404", "422", "503"} <= set(loop)
    upload = schemas["signage"]["paths"]["/api/creatives"]["post"]["responses"]
    assert "400" in upload  # an unparsable multipart body


def test_throttled_operations_declare_retry_after(schemas: dict[str, dict[str, Any]]) -> None:
    for method, path, operation in operations(schemas["store"]):
        if path.startswith(("/api/checkout/", "/api/pos/")):
            throttled = operation["responses"]["429"]
            assert throttled["headers"]["Retry-After"]["required"] is True, (method, path)
            assert _error_schema(operation, "429") == "ErrorReply"
