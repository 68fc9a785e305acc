"""Group commit on SQLite and the real PostgreSQL: requests share transactions, and one
failing request never takes its neighbours' writes with it."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col, select

from store_server.app import create_app
from store_server.baskets.models import Basket, BasketLine, Shopper
from store_server.config import Settings
from store_server.group_commit import GroupCommitter
from store_server.handheld import service
from store_server.shared.errors import NotFound
from store_server.unit_of_work import Database, WriterLock
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, add_products, enroll_devices
from tests.store_server.wsclient import Handheld


@pytest.fixture
def committer(engine: Engine) -> Iterator[GroupCommitter]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield GroupCommitter(Database(engine, executor=executor), max_batch=64)


def add_shopper(card: str, then: Callable[[], Any] | None = None) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.add(Shopper(loyalty_card=card))
        session.flush()
        if then is not None:
            then()
        return card

    return work


def cards(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(Shopper.loyalty_card)).all())


async def run_all(committer: GroupCommitter, jobs: list[tuple[Callable[[Session], Any], bool]]):
    return await asyncio.gather(
        *(committer.run(work, isolated=isolated) for work, isolated in jobs),
        return_exceptions=True,
    )


def test_requests_arriving_together_share_one_transaction(
    engine: Engine, committer: GroupCommitter
) -> None:
    jobs = [(add_shopper(f"GC-{i:02d}"), False) for i in range(50)]
    results = asyncio.run(run_all(committer, jobs))
    assert results == [f"GC-{i:02d}" for i in range(50)]
    assert cards(engine) == [f"GC-{i:02d}" for i in range(50)]
    # The first request starts a transaction at once; the 49 that arrive while it runs
    # go together in the next.
    assert (committer.batches, committer.jobs) == (2, 50)


def test_a_failing_isolated_request_undoes_only_its_own_writes(
    engine: Engine, committer: GroupCommitter
) -> None:
    def refuse() -> None:
        raise NotFound("no such thing")

    jobs = [
        (add_shopper("A"), True),
        (add_shopper("B", then=refuse), True),
        (add_shopper("C"), False),
    ]
    first, second, third = asyncio.run(run_all(committer, jobs))
    assert (first, third) == ("A", "C")
    assert isinstance(second, NotFound)
    assert cards(engine) == ["A", "C"]


def test_a_plain_request_that_breaks_its_promise_fails_alone(
    engine: Engine, committer: GroupCommitter
) -> None:
    """A plain job may raise only before writing; one that writes and then fails with
    anything else fails the shared transaction, which is run again one by one."""

    def crash() -> None:
        raise RuntimeError("bug")

    jobs = [(add_shopper(f"OK-{i}"), False) for i in range(5)]
    jobs.insert(3, (add_shopper("BAD", then=crash), False))
    results = asyncio.run(run_all(committer, jobs))
    assert isinstance(results[3], RuntimeError)
    assert [r for i, r in enumerate(results) if i != 3] == [f"OK-{i}" for i in range(5)]
    assert cards(engine) == [f"OK-{i}" for i in range(5)]  # each once, BAD never


def test_a_database_error_in_one_request_leaves_the_others_committed(
    engine: Engine, committer: GroupCommitter
) -> None:
    jobs = [(add_shopper("DUP"), False), (add_shopper("DUP"), False), (add_shopper("X"), False)]
    results = asyncio.run(run_all(committer, jobs))
    assert results[0] == "DUP" and results[2] == "X"
    assert isinstance(results[1], Exception)
    assert cards(engine) == ["DUP", "X"]


# --- the scan path's cached basket -------------------------------------------------------


@pytest.fixture
def client(db_url: str, engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    add_products(engine)
    tokens = enroll_devices(engine, "H-1")
    app = create_app(Settings(database_url=db_url, environment="test"))
    with TestClient(app) as test_client:
        yield test_client, tokens


def test_two_connections_of_one_device_never_lose_a_scan(
    engine: Engine, client: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each connection keeps the basket it last wrote; when the other connection has
    changed it since, the scan is applied again on a fresh read, not on the old copy."""
    test_client, tokens = client
    reads: list[str] = []
    load_state = service.load_state

    def counted(session: Session, device_id: str) -> service.BasketState:
        reads.append(device_id)
        return load_state(session, device_id)

    monkeypatch.setattr(service, "load_state", counted)
    coffee, milk = COFFEE_ITEM.gtin[1:], MILK_ITEM.gtin[1:]
    with (
        test_client.websocket_connect("/ws/handheld") as ws_a,
        test_client.websocket_connect("/ws/handheld") as ws_b,
    ):
        a, b = Handheld(ws_a), Handheld(ws_b)
        assert a.hello("H-1", tokens["H-1"])["type"] == "welcome"
        assert b.hello("H-1", tokens["H-1"])["type"] == "welcome"
        assert a.start("CARD-9")["type"] == "basket"
        expected = 0
        for i in range(6):
            ack = (a if i % 2 == 0 else b).scan(coffee if i % 3 else milk)
            expected += 1
            assert ack["type"] == "ack", ack
            assert ack["basket"]["item_count"] == expected
        removed = a.remove(milk)
        assert removed["basket"]["item_count"] == expected - 1
        basket_id = removed["basket"]["basket_id"]
        assert b.scan(milk)["basket"]["item_count"] == expected
        assert b.scan(milk)["basket"]["item_count"] == expected + 1
        # a's copy is two changes old: its scan must land on top of b's
        assert a.scan(coffee)["basket"]["item_count"] == expected + 2
    with Session(engine) as session:
        stored = session.exec(
            select(func.sum(BasketLine.qty)).where(col(BasketLine.basket_id) == basket_id)
        ).one()
        basket = session.get(Basket, basket_id)
    assert basket is not None
    assert stored == basket.item_count == expected + 2
    # A fresh read for every request made after the other connection wrote (all but a's
    # first scan, right after its start, and b's second milk scan right after its first):
    # never a scan on an old copy.
    assert len(reads) == 8


# --- processes sharing one SQLite file ----------------------------------------------------


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    from store_server.db import make_engine

    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def locked_committer(sqlite_engine: Engine) -> Iterator[tuple[GroupCommitter, Path]]:
    lock = WriterLock(str(make_url(str(sqlite_engine.url)).database))
    path = Path(lock.path)
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield GroupCommitter(Database(sqlite_engine, executor=executor, writer_lock=lock)), path
    lock.close()


@contextlib.contextmanager
def other_process_holding(path: Path) -> Iterator[None]:
    """The writer lock taken through a descriptor of its own, as another server process
    takes it (flock treats separately opened descriptors as separate holders)."""
    with open(path, "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(other, fcntl.LOCK_UN)


def lock_is_free(path: Path) -> bool:
    with open(path, "a+b") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True


def test_a_batch_waits_while_another_process_holds_the_writer_lock(
    sqlite_engine: Engine, locked_committer: tuple[GroupCommitter, Path]
) -> None:
    committer, path = locked_committer

    async def scenario() -> None:
        with other_process_holding(path):
            pending = asyncio.ensure_future(committer.run(add_shopper("WL-1"), isolated=False))
            done, _ = await asyncio.wait([pending], timeout=0.5)
            assert not done, "a batch ran while another process held the writer lock"
            assert cards(sqlite_engine) == []
        assert await asyncio.wait_for(pending, 30) == "WL-1"

    asyncio.run(scenario())
    assert cards(sqlite_engine) == ["WL-1"]
    assert lock_is_free(path)


def test_the_writer_lock_is_released_when_a_batch_fails(
    sqlite_engine: Engine, locked_committer: tuple[GroupCommitter, Path]
) -> None:
    """A batch that fails as a whole, and each job run again alone, all give the lock
    back: the other processes are never left waiting on a dead batch."""
    committer, path = locked_committer

    def crash() -> None:
        raise RuntimeError("bug")

    jobs = [(add_shopper("OK-1"), False), (add_shopper("BAD", then=crash), False)]
    results = asyncio.run(run_all(committer, jobs))
    assert results[0] == "OK-1" and isinstance(results[1], RuntimeError)
    assert lock_is_free(path)
    assert asyncio.run(run_all(committer, [(add_shopper("OK-2"), True)])) == ["OK-2"]
    assert cards(sqlite_engine) == ["OK-1", "OK-2"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_a_lock_file_made_by_root_belongs_to_the_database_owner(tmp_path: Path) -> None:
    """A server started once as root leaves a lock file the service user can still open."""
    database = tmp_path / "caddie.db"
    database.touch()
    os.chown(database, 65534, 65534)  # nobody
    lock = WriterLock(str(database))
    try:
        made = os.stat(lock.path)
        assert (made.st_uid, made.st_gid) == (65534, 65534)
    finally:
        lock.close()


def test_a_lock_can_be_made_before_its_database(tmp_path: Path) -> None:
    """The server opens its lock before its first connection creates the database file."""
    lock = WriterLock(str(tmp_path / "not-yet.db"))
    try:
        with lock.held():
            assert Path(lock.path).exists()
    finally:
        lock.close()


def test_a_prepared_job_reads_before_the_writer_lock_and_writes_in_its_turn(
    sqlite_engine: Engine, locked_committer: tuple[GroupCommitter, Path]
) -> None:
    """What a scan works out (reads, pricing) is done while another process writes; only
    its writes wait for the lock."""
    committer, path = locked_committer
    prepared = threading.Event()

    def prepare(session: Session) -> Callable[[Session], str]:
        assert session.exec(select(func.count()).select_from(Shopper)).one() == 0
        prepared.set()
        return add_shopper("PJ-1")

    async def scenario() -> None:
        with other_process_holding(path):
            pending = asyncio.ensure_future(committer.run_prepared(prepare))
            assert await asyncio.to_thread(prepared.wait, 30), "never prepared"
            done, _ = await asyncio.wait([pending], timeout=0.3)
            assert not done, "a prepared job wrote while another process held the lock"
            assert cards(sqlite_engine) == []
        assert await asyncio.wait_for(pending, 30) == "PJ-1"

    asyncio.run(scenario())
    assert cards(sqlite_engine) == ["PJ-1"]


def test_a_prepared_job_refused_while_preparing_fails_alone(
    engine: Engine, committer: GroupCommitter
) -> None:
    def refuse(session: Session) -> Callable[[Session], str]:
        raise NotFound("no such product")

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            committer.run(add_shopper("A"), isolated=False),
            committer.run_prepared(refuse),
            committer.run_prepared(lambda session: add_shopper("B")),
            return_exceptions=True,
        )

    first, second, third = asyncio.run(scenario())
    assert (first, third) == ("A", "B")
    assert isinstance(second, NotFound)
    assert cards(engine) == ["A", "B"]
