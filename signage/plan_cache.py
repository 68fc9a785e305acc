"""The mall plan as the loop endpoint reads it, kept per server process until it changes.

Every screen fetches its next loop once a loop, and building a loop is quick, but reading
the whole plan (screens, creatives, advertisers, campaigns) from the database is not:
about 130 ms with 500 screens and 2,000 campaigns, on the store server's own process.
So each process keeps the plan it read together with ``signage_plan_revision``, a
counter that moves in the same transaction as any change to those tables, whoever
makes it (the API, ``caddie signage load`` in another process, another server
process). A loop request reads the counter, one small query, and reads the plan again
only when it moved.

The counter is moved by session events rather than by each write path, so that a
write path added later cannot forget it: any flush that inserts, changes or deletes a
plan row, and any bulk statement on a plan table, moves it first. A screen calling in
(``last_seen``) or getting a new token changes no loop and leaves it alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlmodel import Session

from signage.models import Advertiser, Campaign, CampaignCreative, Creative, PlanRevision, Screen
from store_server.db import ChangeCounter

PLAN_MODELS: tuple[type[Any], ...] = (Screen, Creative, Advertiser, Campaign, CampaignCreative)
_PLAN_TABLES = frozenset(model.__tablename__ for model in PLAN_MODELS)
# Columns of plan rows that no loop depends on.
_NOT_PLAN: dict[type[Any], frozenset[str]] = {
    Screen: frozenset(
        {
            "last_seen",
            "token_hash",
            "enrolled_at",
            "rejected_plays",
            "last_rejection",
            "last_rejected_at",
            "player_version",
            "loop_in_step",
            "cached_creatives",
            "missing_creatives",
            "status_at",
            "screenshot_file",
            "screenshot_at",
        }
    ),
    Creative: frozenset({"reviewed_by", "approval_reason"}),
}

_REVISION = ChangeCounter(PlanRevision.__table__, "revision")  # type: ignore[attr-defined]
_BUMPED = "signage_plan_bumped"  # in session.info: moved once per transaction is enough


def plan_revision(session: Session) -> int:
    return _REVISION.read(session.connection())


def _bump(session: Any) -> None:
    if session.info.get(_BUMPED):
        return
    _REVISION.move(session.connection())
    session.info[_BUMPED] = True


def _changes_plan(obj: object) -> bool:
    ignored = _NOT_PLAN.get(type(obj), frozenset())
    state = sa_inspect(obj)
    return any(attr.key not in ignored and attr.history.has_changes() for attr in state.attrs)


@event.listens_for(Session, "before_flush")
def _plan_rows_flushed(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    touched = (*session.new, *session.deleted)
    if any(isinstance(obj, PLAN_MODELS) for obj in touched) or any(
        isinstance(obj, PLAN_MODELS) and _changes_plan(obj) for obj in session.dirty
    ):
        _bump(session)


@event.listens_for(Session, "do_orm_execute")
def _plan_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _PLAN_TABLES:
        _bump(state.session)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, _transaction: Any) -> None:
    # Any end, a savepoint's too: a savepoint rolled back takes its move with it, so
    # the next change moves the revision again (one move too many costs one re-read).
    session.info.pop(_BUMPED, None)


class PlanCache:
    """One process's copy of the plan, as ``load`` reads it, and its revision."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._plan: Any = None
        self.loads = 0  # how often the plan was read from the database

    def get(self, session: Session, load: Callable[[Session], Any]) -> Any:
        # The revision first: a change committed between the two reads then makes the
        # next request read the plan again, never keeps an old plan under a new number.
        revision = plan_revision(session)
        with self._lock:
            if revision == self._revision:
                return self._plan
        plan = load(session)
        with self._lock:
            self._revision, self._plan = revision, plan
            self.loads += 1
        return plan
