"""Audit policy versions: who, when, why and the diff; new trips only; rollback."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from store_server.baskets.models import Basket, BasketLine
from store_server.baskets.service import BasketRow
from store_server.checkout.audit import finish_basket
from store_server.checkout.audit_policy import AuditPolicy
from store_server.checkout.models import CheckoutAudit
from store_server.checkout.views import detail
from store_server.db import session_scope
from store_server.manager import policies
from store_server.shared.errors import InvalidInput, NotFound
from tests.store_server.factories import COFFEE_ITEM, enroll_devices

DEFAULT = AuditPolicy(base_rate=0.05)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _basket(engine: Engine, basket_id: str, started: datetime) -> BasketRow:
    with session_scope(engine) as session:
        session.add(
            Basket(
                id=basket_id,
                device_id="H-1",
                store_id="store-1",
                created_at=started,
                updated_at=started,
            )
        )
        session.flush()
        session.add(
            BasketLine(
                basket_id=basket_id,
                gtin=COFFEE_ITEM.gtin,
                scanned_gtin=COFFEE_ITEM.gtin,
                name=COFFEE_ITEM.name,
                category="coffee",
                qty=1,
                unit_price_cents=349,
                line_total_cents=349,
                tax_rate="0.055",
                added_at=started,
            )
        )
    return BasketRow(basket_id, "open", None, "EUR", started, "H-1", "store-1", None)


def _finish(engine: Engine, row: BasketRow) -> CheckoutAudit:
    with session_scope(engine) as session:
        view = {"total_cents": 349, "tax_cents": 18, "item_count": 1}
        finish_basket(session, row, view, policy=DEFAULT, rng=random.Random(1))
    with session_scope(engine) as session:
        audit = session.get(CheckoutAudit, row.id)
        assert audit is not None
        return audit


def test_a_version_decides_only_trips_started_after_it_and_rolls_back(engine: Engine) -> None:
    enroll_devices(engine, "H-1")
    before = _basket(engine, "b-before", T0)
    with session_scope(engine) as session:
        v2 = policies.apply_policy(
            session,
            "store-1",
            {"base_rate": 0.0, "first_trip_always": False},
            default=DEFAULT,
            reason="too many audits at the weekend",
            actor="boss",
            at=T0 + timedelta(minutes=5),
        )
    assert v2.version == 2 and v2.created_by == "boss" and v2.action == "apply"
    assert v2.reason == "too many audits at the weekend"
    assert {d["setting"]: (d["before"], d["after"]) for d in v2.diff} == {
        "base_rate": (0.05, 0.0),
        "first_trip_always": (True, False),
    }
    after = _basket(engine, "b-after", T0 + timedelta(minutes=10))
    # The trip under way when the version was applied keeps the policy it started under
    # (version 1: the one in force before versions), even though it finishes later.
    old_audit = _finish(engine, before)
    new_audit = _finish(engine, after)
    assert old_audit.policy_version == 1 and old_audit.decision != "none"  # first trip: always
    assert new_audit.policy_version == 2 and new_audit.decision == "none"
    # The staff console's basket panel names the version that decided.
    from store_server.checkout.console import templates

    with session_scope(engine) as session:
        basket = session.get(Basket, "b-before")
        assert basket is not None
        view = detail(session, basket, [])
    assert view["audit"]["policy_version"] == 1
    panel = templates.env.get_template("checkout/_panel.html").render(b=view, csrf_token="")
    assert 'id="policy-version">Policy v1<' in panel
    with session_scope(engine) as session:
        v3 = policies.rollback(
            session,
            "store-1",
            to_version=1,
            default=DEFAULT,
            reason="shrinkage rose",
            actor="boss",
            at=T0 + timedelta(minutes=20),
        )
    assert v3.version == 3 and v3.action == "rollback" and "rollback to version 1" in v3.reason
    assert {d["setting"] for d in v3.diff} == {"base_rate", "first_trip_always"}
    later = _basket(engine, "b-later", T0 + timedelta(minutes=30))
    assert _finish(engine, later).policy_version == 3
    with session_scope(engine) as session:
        history = policies.versions(session, "store-1")
        assert [v.version for v in history] == [3, 2, 1]
        assert policies.current_policy(session, "store-1", DEFAULT).base_rate == 0.05


def test_bad_changes_write_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        for changes, reason, message in (
            ({"base_rate": 2}, "why", "base_rate must be between 0 and 1"),
            ({"no_such": 1}, "why", "unknown setting"),
            ({"base_rate": 0.05}, "why", "nothing changes"),
            ({"base_rate": 0.1}, "", "say why"),
            ({"base_rate": 0.1}, "x" * 501, "longer than"),
        ):
            with pytest.raises(InvalidInput, match=message):
                policies.apply_policy(
                    session, "store-1", changes, default=DEFAULT, reason=reason, actor="boss"
                )
            session.rollback()
        with pytest.raises(NotFound):
            policies.rollback(
                session, "store-1", to_version=7, default=DEFAULT, reason="x", actor="boss"
            )
    with session_scope(engine) as session:
        assert policies.versions(session, "store-1") == []
