"""Versioned audit policies: who changed what, when and why; new trips only; rollback.

A version decides the audits of trips that *start* at or after its ``effective_from``:
a shopper already scanning keeps the rules they started under. Rolling back writes a
new version equal to an older one, so the history only grows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from store_server.checkout.audit import policy_for_store
from store_server.checkout.audit_policy import AuditPolicy
from store_server.manager.models import AuditPolicyVersion
from store_server.shared.errors import InvalidInput, NotFound
from store_server.timeutil import as_utc, utcnow

VERSIONS = AuditPolicyVersion.__table__  # type: ignore[attr-defined]
BASELINE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
MAX_REASON = 500


@dataclass(frozen=True)
class VersionView:
    version: int
    action: str
    reason: str
    created_by: str
    created_at: datetime
    effective_from: datetime
    policy: dict[str, Any]
    diff: list[dict[str, Any]]


def _view(row: AuditPolicyVersion) -> VersionView:
    return VersionView(
        version=row.version,
        action=row.action,
        reason=row.reason,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        effective_from=as_utc(row.effective_from),
        policy=json.loads(row.policy),
        diff=json.loads(row.diff),
    )


def versions(session: Session, store_id: str) -> list[VersionView]:
    """Newest first."""
    rows = session.exec(
        select(AuditPolicyVersion)
        .where(AuditPolicyVersion.store_id == store_id)
        .order_by(col(AuditPolicyVersion.version).desc())
    ).all()
    return [_view(r) for r in rows]


def current_policy(session: Session, store_id: str, default: AuditPolicy) -> AuditPolicy:
    """What a trip starting now would be audited by."""
    found = (
        session.connection()
        .execute(
            sa_select(VERSIONS.c.policy)
            .where(VERSIONS.c.store_id == store_id)
            .order_by(VERSIONS.c.version.desc())
            .limit(1)
        )
        .scalar()
    )
    if found is not None:
        return AuditPolicy.from_config(json.loads(found))
    return policy_for_store(session, store_id, default)


def policy_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings that differ, as ``{"setting", "before", "after"}`` (sorted by name)."""
    return [
        {"setting": key, "before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("say why (the reason is kept with the version)")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters")
    return reason.strip()


def _add(
    session: Session,
    store_id: str,
    policy: AuditPolicy,
    *,
    before: dict[str, Any],
    reason: str,
    action: str,
    actor: str,
    at: datetime,
    version: int,
    created_at: datetime | None = None,
) -> VersionView:
    after = policy.to_dict()
    row = AuditPolicyVersion(
        store_id=store_id,
        version=version,
        policy=json.dumps(after, sort_keys=True),
        diff=json.dumps(policy_diff(before, after)),
        reason=reason,
        action=action,
        created_by=actor,
        created_at=created_at or at,
        effective_from=at,
    )
    session.add(row)
    session.flush()
    return _view(row)


def apply_policy(
    session: Session,
    store_id: str,
    changes: dict[str, Any],
    *,
    default: AuditPolicy,
    reason: object,
    actor: str,
    at: datetime | None = None,
) -> VersionView:
    """A new version: the current policy with ``changes`` (settings by name), validated
    whole (every problem reported, nothing written). The first version also records the
    policy in force before it (version 1, ``baseline``) so trips already under way keep it."""
    why = _reason(reason)
    at = as_utc(at or utcnow())
    current = current_policy(session, store_id, default)
    config = {**current.to_dict(), **changes}
    policy = AuditPolicy.from_config(config)
    latest = _latest_number(session, store_id)
    if latest == 0:
        _add(
            session,
            store_id,
            current,
            before=current.to_dict(),
            reason="the policy in force before versions were kept",
            action="baseline",
            actor=actor,
            at=BASELINE_FROM,
            version=1,
            created_at=at,
        )
        latest = 1
    if policy.to_dict() == current.to_dict():
        raise InvalidInput("nothing changes: the policy already has these settings")
    return _add(
        session,
        store_id,
        policy,
        before=current.to_dict(),
        reason=why,
        action="apply",
        actor=actor,
        at=at,
        version=latest + 1,
    )


def rollback(
    session: Session,
    store_id: str,
    *,
    to_version: int,
    default: AuditPolicy,
    reason: object,
    actor: str,
    at: datetime | None = None,
) -> VersionView:
    """A new version equal to ``to_version`` (for new trips only)."""
    why = _reason(reason)
    at = as_utc(at or utcnow())
    target = session.exec(
        select(AuditPolicyVersion).where(
            AuditPolicyVersion.store_id == store_id, AuditPolicyVersion.version == to_version
        )
    ).first()
    if target is None:
        raise NotFound(f"no audit policy version {to_version} for this store")
    current = current_policy(session, store_id, default)
    policy = AuditPolicy.from_config(json.loads(target.policy))
    if policy.to_dict() == current.to_dict():
        raise InvalidInput(f"version {to_version} is already the policy in force")
    return _add(
        session,
        store_id,
        policy,
        before=current.to_dict(),
        reason=f"rollback to version {to_version}: {why}",
        action="rollback",
        actor=actor,
        at=at,
        version=_latest_number(session, store_id) + 1,
    )


def _latest_number(session: Session, store_id: str) -> int:
    value = (
        session.connection()
        .execute(sa_select(func.max(VERSIONS.c.version)).where(VERSIONS.c.store_id == store_id))
        .scalar()
    )
    return int(value or 0)
