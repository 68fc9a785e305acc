"""Who may import whom (docs/architecture.md, "Dependencies"), read from the source.

Each rule names the offending import (module, target, file and line). The allowlists
below hold what is true today, each entry with its reason, and may only shrink: an
entry nothing needs any more fails too, so it is deleted with the import it allowed.
"""

from __future__ import annotations

import pytest

from tests.import_graph import Import, import_graph, runtime, shortest_cycle, strongly_connected

SHARED = "store_server.shared"

# Cycles left, as the sets of modules in them, each with why and the way out.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

# The store_server modules signage imports, besides store_server.shared, and why.
SIGNAGE_MAY_IMPORT: dict[str, str] = {
    "store_server.unit_of_work": "one database per process: signage writes in the store's units",
    "store_server.auth.models": "operators are the store's users (User, ROLES)",
    "store_server.auth.service": "operator log-in and sessions are the store's",
    "store_server.auth.routes": "the signage app served alone offers the same log-in API",
    "store_server.body_limit": "one request body limit for both apps",
    "store_server.cli_support": "signage commands share the CLI's options and errors",
    "store_server.client_json": "one hardened JSON reader for whatever clients send",
    "store_server.config": "the store's Settings (database, time zone, store id, signals)",
    "store_server.db": "engines and the one-transaction-per-request session scope",
    "store_server.deps": "session cookie, known devices and error responses",
    "store_server.docs_pages": "the signage app served alone has the same API docs pages",
    "store_server.for_signage": "the store data read for measured uplift, in one list",
    "store_server.http_errors": "one JSON error body for both apps",
    "store_server.logging_setup": "signage serve logs as caddie serve does",
    "store_server.metrics": "plays are counted with the store's Prometheus metrics",
    "store_server.security": "screen tokens are made and hashed as device tokens are",
    "store_server.state": "the signage app served alone builds a ServerState",
    "store_server.templating": "one Jinja environment setup for the consoles",
    "store_server.timeutil": "one clock (utcnow) for both apps",
    "store_server.websec": "the same CSRF, media-type and failed-auth protections",
}

# The store_server modules that put the packages together, and what they import.
STORE_MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "store_server.app": ("signage",),  # mounts the signage app at /signage
    "store_server.cli": ("signage", "handheld_client"),  # registers their commands
    "store_server.cli_support": ("signage",),  # checks signage settings with the store's
    "store_server.demo": ("signage",),  # seeds screens, campaigns and their history
}


def _direct() -> list[Import]:
    return [e for edges in import_graph().values() for e in edges if not e.implied]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _report(found: list[Import]) -> str:
    return "\n".join(str(edge) for edge in found)


def test_no_import_cycle() -> None:
    """Counting imports inside functions and the packages whose ``__init__`` an import
    runs; not those under ``if TYPE_CHECKING:``, which never run."""
    graph = runtime(import_graph())
    groups = {frozenset(group): group for group in strongly_connected(graph)}
    new = [group for members, group in groups.items() if members not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n\n".join(
        _report(shortest_cycle(graph, group)) for group in new
    )
    gone = [sorted(members) for members in KNOWN_CYCLES if members not in groups]
    assert not gone, f"these cycles are gone: delete them from KNOWN_CYCLES: {gone}"


def test_the_handheld_imports_only_the_shared_package_of_the_server() -> None:
    found = [
        e
        for e in _direct()
        if _in(e.importer, "handheld_client")
        and (_in(e.target, "store_server") or _in(e.target, "signage"))
        and not _in(e.target, SHARED)
    ]
    assert not found, "the handheld may import only store_server.shared:\n" + _report(found)


def test_the_shared_package_imports_nothing_else_of_the_project() -> None:
    found = [e for e in _direct() if _in(e.importer, SHARED) and not _in(e.target, SHARED)]
    assert not found, "store_server.shared must stay pure:\n" + _report(found)


def test_signage_reaches_the_store_only_through_the_allowlist() -> None:
    used = {
        e.target for e in _direct() if _in(e.importer, "signage") and _in(e.target, "store_server")
    }
    found = [
        e
        for e in _direct()
        if _in(e.importer, "signage")
        and _in(e.target, "store_server")
        and not _in(e.target, SHARED)
        and e.target not in SIGNAGE_MAY_IMPORT
    ]
    assert not found, (
        "signage imports store_server modules outside SIGNAGE_MAY_IMPORT:\n" + _report(found)
    )
    unused = sorted(set(SIGNAGE_MAY_IMPORT) - used)
    assert not unused, f"nothing in signage imports these: delete them: {unused}"


def test_the_store_imports_signage_and_the_handheld_only_where_it_composes_them() -> None:
    found = [
        e
        for e in _direct()
        if _in(e.importer, "store_server")
        and any(_in(e.target, p) for p in ("signage", "handheld_client"))
        and not any(_in(e.target, p) for p in STORE_MAY_IMPORT.get(e.importer, ()))
    ]
    assert not found, (
        "only the composition modules of STORE_MAY_IMPORT import signage or the "
        "handheld:\n" + _report(found)
    )


@pytest.mark.parametrize("package", ["store_server", "signage", "handheld_client"])
def test_the_graph_sees_every_package(package: str) -> None:
    """A rule over an empty graph would pass whatever the code imports."""
    assert any(_in(module, package) for module in import_graph())
