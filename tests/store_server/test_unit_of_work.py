"""The unit of work: every writer of a process takes the same turn; reads refuse writes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from store_server.baskets.models import Shopper
from store_server.unit_of_work import Database
from tests.store_server.test_group_commit import lock_is_free, other_process_holding


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database.open(db_url)
    yield database
    database.close()


def add_shopper(card: str) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.add(Shopper(loyalty_card=card))
        session.flush()
        return card

    return work


def cards(db: Database) -> list[str]:
    with Session(db.engine) as session:
        return sorted(session.exec(select(Shopper.loyalty_card)).all())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the lock is for SQLite files
def test_every_write_waits_while_another_process_holds_the_writer_lock(db: Database) -> None:
    """Not only the group commit: ``run`` and ``unit_of_work`` take the same turn."""
    assert db.writer_lock is not None
    path = Path(db.writer_lock.path)

    def plain_route() -> None:
        with db.unit_of_work() as session:
            session.add(Shopper(loyalty_card="ROUTE"))

    async def scenario() -> None:
        with other_process_holding(path):
            pending = asyncio.ensure_future(db.run(add_shopper("ASYNC")))
            route = threading.Thread(target=plain_route)
            route.start()
            done, _ = await asyncio.wait([pending], timeout=0.5)
            assert not done and route.is_alive(), "a write ran while another process wrote"
            assert cards(db) == []
        assert await asyncio.wait_for(pending, 30) == "ASYNC"
        route.join(30)

    asyncio.run(scenario())
    assert cards(db) == ["ASYNC", "ROUTE"]
    assert lock_is_free(path)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_threads_of_one_process_take_turns(db: Database) -> None:
    """``flock`` would let a second thread of the holder's process in; the turn does not."""
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.unit_of_work() as session:
            inside.set()
            release.wait(10)
            session.add(Shopper(loyalty_card="FIRST"))
            order.append("first")

    def second() -> None:
        with db.unit_of_work() as session:
            session.add(Shopper(loyalty_card="SECOND"))
            order.append("second")

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.3)
    assert order == [] and two.is_alive()
    release.set()
    one.join(10)
    two.join(10)
    assert order == ["first", "second"]
    assert cards(db) == ["FIRST", "SECOND"]


def test_a_reading_session_refuses_writes(db: Database) -> None:
    with pytest.raises(RuntimeError, match="unit of work"), db.reading() as session:
        session.add(Shopper(loyalty_card="NO"))
        session.flush()
    with pytest.raises(RuntimeError, match="unit of work"), db.reading() as session:
        session.exec(update(Shopper).values(loyalty_card="NO"))  # type: ignore[call-overload]
    with pytest.raises(RuntimeError, match="unit of work"):
        asyncio.run(db.run(add_shopper("NO"), read_only=True))
    assert cards(db) == []
    assert asyncio.run(db.run(lambda s: len(s.exec(select(Shopper)).all()), read_only=True)) == 0


def test_a_unit_of_work_that_fails_writes_nothing(db: Database) -> None:
    def fails(session: Session) -> None:
        session.add(Shopper(loyalty_card="HALF"))
        session.flush()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        asyncio.run(db.run(fails))
    assert asyncio.run(db.run(add_shopper("WHOLE"))) == "WHOLE"
    assert cards(db) == ["WHOLE"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_closed_database_writes_again_in_turn(db: Database) -> None:
    """A server that stopped and started on the same app (tests, a reloaded worker)
    writes with the database it held: closed, it opens its lock file again."""
    assert db.writer_lock is not None
    path = Path(db.writer_lock.path)
    db.close()
    with db.unit_of_work() as session:
        session.add(Shopper(loyalty_card="AFTER"))
    assert cards(db) == ["AFTER"]
    assert lock_is_free(path)

    def plain_route() -> None:
        with db.unit_of_work() as session:
            session.add(Shopper(loyalty_card="WAITED"))

    with other_process_holding(path):
        route = threading.Thread(target=plain_route)
        route.start()
        route.join(0.5)
        assert route.is_alive(), "a write ran while another process wrote"
    route.join(30)
    assert cards(db) == ["AFTER", "WAITED"]
