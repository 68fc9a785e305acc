"""JSON from clients never crashes the server: nesting deep enough to exhaust the stack
and strings that are not Unicode text (lone surrogate escapes) are bad input (4xx, or a
clear CLI error), whether they come in a request body, an uploaded file or a CLI file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store_server.app import create_app
from store_server.auth.service import create_user
from store_server.client_json import MAX_DEPTH, ClientJSONError, loads
from store_server.config import Settings
from store_server.db import session_scope
from store_server.pricing.promotion_files import load_promotions
from store_server.shared.errors import InvalidInput
from tests.servers import caddie

PASSWORD = "correct horse battery"
PROMOTION = {"id": "P-1", "label": "Tea 10%", "kind": "percent_off", "categories": ["tea"]}


def nested(depth: int, inner: str = "1") -> str:
    return '{"a":' * depth + inner + "}" * depth


def with_value(document: Any, raw: str) -> str:
    """``document`` as JSON with its ``"@"`` string replaced by the raw JSON ``raw``."""
    return json.dumps(document).replace('"@"', raw)


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    "text",
    [
        nested(5_000),
        "[" * 100_000 + "]" * 100_000,
        nested(MAX_DEPTH + 1),
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
)
def test_too_deep_is_refused(text: str) -> None:
    with pytest.raises(ClientJSONError, match=f"nested deeper than {MAX_DEPTH} levels"):
        loads(text)
    with pytest.raises(ClientJSONError):
        loads(text.encode())


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert loads(nested(MAX_DEPTH)) is not None


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',
        '{"id": "\\udfff"}',
        '{"\\ud800": 1}',
        '[1, {"a": ["ok", "x\\ud83d"]}]',
        '"\\ude00\\ud83d"',  # a pair in the wrong order
    ],
)
def test_lone_surrogates_are_refused_anywhere(text: str) -> None:
    with pytest.raises(ClientJSONError, match="not valid Unicode text"):
        loads(text)
    with pytest.raises(ClientJSONError, match="not valid Unicode text"):
        loads(text.encode())


def test_real_text_is_accepted() -> None:
    assert loads('{"name": "caf\\u00e9 \\ud83d\\ude00", "k": "é"}') == {
        "name": "café \U0001f600",
        "k": "é",
    }


@pytest.mark.parametrize("raw", [b"\xff\xfe\xfd", b'{"a": "\xed\xa0\x80"}', b"{", b""])
def test_syntax_and_encoding_errors_are_client_errors(raw: bytes) -> None:
    with pytest.raises(ClientJSONError):
        loads(raw)


def test_a_syntax_error_says_where() -> None:
    with pytest.raises(ClientJSONError) as caught:
        loads('[\n{"id": "P1",\n "label" "x"}\n]')
    assert caught.value.line == 3


# --------------------------------------------------------------------------- promotion files


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (nested(5_000), "line 1: invalid JSON: nested deeper than 64 levels"),
        (with_value([{**PROMOTION, "label": "@"}], nested(900)), "nested deeper"),
        (with_value([{**PROMOTION, "label": "@"}], '"\\ud800"'), "not valid Unicode text"),
    ],
)
def test_a_hostile_promotion_file_is_a_listed_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(content)
    with pytest.raises(InvalidInput) as caught:
        load_promotions(path)
    problems = caught.value.details["problems"]
    assert len(problems) == 1 and problem in problems[0], problems


def test_the_cli_refuses_a_deep_promotion_file_in_a_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(nested(5_000))
    done = caddie("promotions", "import", str(path), "--database-url", f"sqlite:///{tmp_path}/c.db")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: deep.json: 1 problem, nothing loaded", done.stderr
    assert lines[1:] == ["  - line 1: invalid JSON: nested deeper than 64 levels"]


# --------------------------------------------------------------------------- HTTP bodies


@pytest.fixture
def client(sqlite_url: str, engine: Engine) -> Iterator[TestClient]:
    with session_scope(engine) as session:
        create_user(session, username="admin", password=PASSWORD, role="admin")
    app = create_app(Settings(database_url=sqlite_url, environment="test"))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        reply = test_client.post(
            "/api/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        assert reply.status_code == 200, reply.text
        test_client.cookies.clear()
        test_client.headers["Authorization"] = f"Bearer {reply.json()['token']}"
        yield test_client


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    from store_server.db import make_engine

    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


HOSTILE = [nested(5_000), nested(900), nested(MAX_DEPTH + 1), '"\\ud800"', '{"a": "\\ud800"}']


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_hostile_promotions_import_is_422(client: TestClient, raw: str) -> None:
    body = raw if raw.startswith('{"a":{') else with_value([{**PROMOTION, "label": "@"}], raw)
    reply = client.post(
        "/api/promotions/import", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "invalid_input"
    assert "invalid JSON" in reply.json()["error"]["problems"][0]
    assert client.get("/api/promotions").json()["promotions"] == []


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_hostile_checkout_body_is_a_bad_message(client: TestClient, raw: str) -> None:
    body = with_value({"terminal_id": "POS-1", "store_id": "@"}, raw)
    reply = client.post(
        "/api/checkout/pos-terminals", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "bad_message" and error["message"] == "the body is not valid JSON"


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_hostile_promotion_put_is_refused(client: TestClient, raw: str) -> None:
    body = with_value({**PROMOTION, "percent": 10, "label": "@"}, raw)
    reply = client.put(
        "/api/promotions/P-1", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code in (400, 422), reply.text
    assert reply.json()["error"]["code"] in ("bad_message", "invalid_input")
    assert client.get("/api/promotions").json()["promotions"] == []
