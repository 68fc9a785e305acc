"""Recommendations for the audit policy from the store's own recent audits.

Each one names its evidence (counts from the rollup), the change to the policy, and the
expected effect replayed through ``store_server.checkout.simulation`` — the simulator of
``caddie audit simulate`` — with the current policy and with the change, on the same
synthetic shoppers (same seed), so the two columns compare like with like.

A pattern must stand out from noise before anything is recommended: a category's hit
rate per unit audited must be significantly above the other categories' pooled
(one-sided binomial test, p < 0.001, at
least ``MIN_HITS`` hits), so random variation across a dozen categories stays quiet.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from store_server.checkout.audit_policy import AuditPolicy
from store_server.checkout.simulation import SimulationResult, simulate

MIN_HITS = 5
MIN_AUDITS = 30
P_VALUE = 0.001
SIM_SHOPPERS = 300
SIM_DAYS = 60


@dataclass(frozen=True)
class Recommendation:
    key: str
    title: str
    evidence: str
    changes: dict[str, Any]
    effect: list[tuple[str, str, str]]  # (measure, now, with the change)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space."""
    if k <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    total = 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    for i in range(k, n + 1):
        total += math.exp(
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * log_p
            + (n - i) * log_q
        )
    return min(1.0, total)


def find(
    audits_by_category: Mapping[str, int],
    hits_by_category: Mapping[str, int],
    audits: int,
    hits: int,
    policy: AuditPolicy,
    units_by_category: Mapping[str, int] | None = None,
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(key, title, evidence, changes) of each pattern that stands out (pure)."""
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    if audits < MIN_AUDITS:
        return out
    overall = hits / audits if audits else 0.0
    # Finds per unit audited: a category bought by the dozen is found short more often
    # per audit without being riskier per item.
    units = units_by_category if units_by_category is not None else audits_by_category
    all_hits = sum(hits_by_category.values())
    all_units = sum(units.values())
    for category in sorted(hits_by_category):
        k, n, u = (
            hits_by_category[category],
            audits_by_category.get(category, 0),
            units.get(category, 0),
        )
        # Against every other category pooled: the overall rate would include the
        # category's own finds.
        base = (all_hits - k) / (all_units - u) if all_units > u else overall
        if k < MIN_HITS or n <= 0 or u <= 0 or k / u <= base:
            continue
        p_value = binomial_tail(k, u, max(base, 1e-6))
        if p_value >= P_VALUE:
            continue
        if category in policy.risky_categories:
            changes: dict[str, Any] = {
                "risky_share_factor": round(policy.risky_share_factor * 1.5, 3),
                "risky_pick_factor": round(max(1.0, policy.risky_pick_factor * 1.5), 3),
            }
            action = "raise the weight of risky categories"
        else:
            changes = {"risky_categories": sorted(policy.risky_categories | {category})}
            action = "make it a risky category"
        out.append(
            (
                f"category:{category}",
                f"{category}: {action}",
                f"{category}: {k} of the last {n} audits of trips holding it found it "
                f"under-scanned ({k / u:.2%} per unit audited, against {base:.2%} for "
                f"the other categories; "
                f"p = {p_value:.1g} that this is chance).",
                changes,
            )
        )
    if audits >= 200 and hits <= audits * 0.005:
        out.append(
            (
                "base_rate:lower",
                "audits find almost nothing: lower the base rate",
                f"{hits} of the last {audits} audits found a discrepancy ({overall:.2%}).",
                {"base_rate": round(policy.base_rate * 0.7, 4)},
            )
        )
    return out


@functools.lru_cache(maxsize=32)
def _simulated(policy_json: str) -> SimulationResult:
    policy = AuditPolicy.from_config(json.loads(policy_json))
    return simulate(policy, shoppers=SIM_SHOPPERS, days=SIM_DAYS, seed=7)


def expected_effect(policy: AuditPolicy, changes: dict[str, Any]) -> list[tuple[str, str, str]]:
    changed = AuditPolicy.from_config({**policy.to_dict(), **changes})
    before = _simulated(json.dumps(policy.to_dict(), sort_keys=True))
    after = _simulated(json.dumps(changed.to_dict(), sort_keys=True))

    def pct(x: float) -> str:
        return f"{x * 100:.1f}%"

    return [
        ("trips audited", pct(before.audit_rate), pct(after.audit_rate)),
        (
            "honest shoppers' trips audited",
            pct(before.honest_audit_rate),
            pct(after.honest_audit_rate),
        ),
        ("under-scanned items caught", pct(before.caught_share), pct(after.caught_share)),
        (
            "items rescanned per audit",
            f"{before.items_rescanned_per_audit:.1f}",
            f"{after.items_rescanned_per_audit:.1f}",
        ),
    ]


def recommend(
    audits_by_category: Mapping[str, int],
    hits_by_category: Mapping[str, int],
    audits: int,
    hits: int,
    policy: AuditPolicy,
    units_by_category: Mapping[str, int] | None = None,
) -> list[Recommendation]:
    found = find(audits_by_category, hits_by_category, audits, hits, policy, units_by_category)
    return [
        Recommendation(key, title, evidence, changes, expected_effect(policy, changes))
        for key, title, evidence, changes in found
    ]


__all__ = ["Recommendation", "find", "recommend", "expected_effect", "binomial_tail"]


def for_store(
    session: Any,
    store_id: str,
    *,
    today: date,
    timezone: str,
    default: AuditPolicy,
    days: int = 28,
) -> tuple[AuditPolicy, list[Recommendation]]:
    """The policy a new trip would get and the recommendations from the store's audits of
    the last ``days`` local days (read from the rollup)."""
    from zoneinfo import ZoneInfo

    from store_server.manager import policies, rollup
    from store_server.manager.figures import Period

    recent = Period("custom", date.fromordinal(today.toordinal() - days + 1), today)
    h0, h1 = recent.hours(ZoneInfo(timezone))
    metrics = ("cat_audits", "cat_hits", "cat_units", "audits", "audits_hit")
    totals = rollup.read(session.connection(), store_id, h0, h1, metrics)

    def by(metric: str) -> dict[str, int]:
        return {d: v for (m, d), v in totals.items() if m == metric and d}

    current = policies.current_policy(session, store_id, default)
    found = recommend(
        by("cat_audits"),
        by("cat_hits"),
        totals.get(("audits", ""), 0),
        totals.get(("audits_hit", ""), 0),
        current,
        by("cat_units"),
    )
    return current, found
