"""Property-based API testing of the whole OpenAPI schema of ``create_app`` (store server
and the mounted signage app), in process, against a populated SQLite store.

schemathesis generates requests from the schema, valid and invalid, and checks each
answer: never a 5xx, always a status code and a body the schema declares. Authenticated
as admin (who may call everything) and once as staff (who is refused much of it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from store_server.app import create_app
from store_server.db import migrate
from tests.hostile import examples
from tests.security.world import Credential, World, running_world, settings_for

pytestmark = pytest.mark.slow

EXAMPLES = examples(12)  # per operation
# The schema is deliberately looser than the code in places (a ``gtin`` path parameter is
# any string; the code answers 422 invalid_code), so "schema-valid input must be accepted"
# is not a property of this API. The ``Allow`` header of a 405 is the framework's.
EXCLUDED = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.allow_header_conformance,
]

# schemathesis reads the schema when the module is collected, and reading it starts the
# app on its database (threads and open connections that outlive the read). So the
# database is made here, before, and the fixture below fills it in place: a file copied
# over one the app holds open, beside its -wal and -shm, would be corrupt.
_FOLDER = Path(tempfile.mkdtemp(prefix="caddie-schemathesis-"))
DATABASE_URL = f"sqlite:///{_FOLDER / 'caddie.db'}"
migrate(DATABASE_URL)
APP = create_app(settings_for(DATABASE_URL))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Invalid input may also be refused for its size: the generator sometimes builds a body
# over the 64 KiB a JSON API takes (store_server.body_limit), answered 413 too_large.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")
# Every case is sent with the caller's bearer token (_headers), so a case "without the
# Authorization header" would not be one; and the API ignores query parameters it does
# not know, as HTTP APIs do. Neither is invalid input here.
schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    try:
        with running_world(DATABASE_URL, APP) as populated:
            yield populated
    finally:
        shutil.rmtree(_FOLDER, ignore_errors=True)


def _headers(world: World, role: str, case: schemathesis.Case) -> dict[str, str]:
    credential = world.credentials[role]
    if case.operation.path == "/api/auth/logout":  # it ends the session: use a fresh one
        credential = Credential(role, world.login({"admin": "root", "staff": "alice"}[role]))
    headers = credential.headers()
    headers.pop("Cookie")  # a bearer token is how API clients call
    return headers


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
def test_api_as_admin(case: schemathesis.Case, world: World) -> None:
    case.call_and_validate(headers=_headers(world, "admin", case), excluded_checks=EXCLUDED)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES // 3,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_as_staff(case: schemathesis.Case, world: World) -> None:
    case.call_and_validate(headers=_headers(world, "staff", case), excluded_checks=EXCLUDED)
