"""Which finished baskets checkout staff rescan, and why.

Shoppers of self-scanning stores complain most about being audited often for no
stated reason, about staff mistakes counted against them, and about long rescan
queues. So this policy (1) keeps every decision explainable: each factor that moved
the odds becomes a sentence staff can read out; (2) learns only from the shopper's
own discrepancies (callers must not pass staff errors); (3) prefers partial rescans
of a few well-chosen items over full ones, escalating only when a partial rescan
finds something.

Everything here is pure: the caller passes the clock (``AuditInputs.now``) and the
random source, so a decision is reproducible from its stored inputs and seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import InvalidInput

Decision = Literal["none", "partial", "full"]
DECISIONS: tuple[str, ...] = get_args(Decision)

DEFAULT_RISKY_CATEGORIES = frozenset(
    {"alcohol", "spirits", "tobacco", "razor", "cosmetics", "electronics"}
)

_SECONDS_PER_DAY = 86_400.0
OWN_PHONE_REASON = "trip on the shopper's own phone"


@dataclass(frozen=True)
class AuditPolicy:
    """One store's audit configuration; every field has a default a store can start with.

    The audit probability of a basket is

        base_rate × trust × value × size × risky × overdue, capped at ``max_probability``

    where each factor is 1 unless the basket or shopper gives a reason (see ``decide``).
    A first trip (with ``first_trip_always``) and a shopper not audited for
    ``max_days_without_audit`` days are audited regardless of the odds.
    """

    base_rate: float = 0.05
    """Probability of auditing an ordinary basket of a shopper with no history."""
    partial_share: float = 0.9
    """Of the audits not forced to be full, the share that rescans only a few items."""
    partial_items: int = 3
    """Distinct items a partial audit asks staff to rescan."""
    first_trip_always: bool = True
    """Audit the first trip with a loyalty card (there is no history to go on)."""
    risky_categories: frozenset[str] = DEFAULT_RISKY_CATEGORIES
    """Product categories most often under-scanned (small, valuable, resellable)."""
    risky_share_factor: float = 2.0
    """Odds multiplier is ``1 + risky_share_factor × share of items in risky categories``."""
    risky_pick_factor: float = 3.0
    """A risky line is this many times likelier to be picked for a partial rescan."""
    high_value_cents: int = 15_000
    """Baskets worth more than this are audited ``high_value_factor`` times as often."""
    high_value_factor: float = 2.0
    very_high_value_cents: int = 50_000
    """An audited basket worth at least this is rescanned in full."""
    many_items: int = 40
    """Baskets with at least this many items are audited ``many_items_factor`` times as often."""
    many_items_factor: float = 1.5
    max_days_without_audit: int | None = 120
    """Audit a shopper not audited for this many days; the odds rise from half of it.
    ``None`` turns the rule off."""
    discrepancy_weight: float = 10.0
    """How many clean audits one discrepancy outweighs in the trust score."""
    min_trust_factor: float = 0.2
    """However trusted, a shopper keeps at least this share of the base odds, so a
    long clean record cannot buy immunity."""
    recent_discrepancy_days: int = 180
    """An audit within this many days of a discrepancy is a full rescan."""
    max_probability: float = 0.9
    """Cap on the computed odds: nobody is audited every time by arithmetic alone."""
    own_phone_factor: float = 1.5
    """Odds multiplier for a trip scanned on the shopper's own phone rather than a store
    handheld, which the store hands out and takes back (1: no different)."""

    def __post_init__(self) -> None:
        problems = _range_problems(self)
        if problems:
            raise InvalidInput(_problem_message(problems), problems=problems)

    @classmethod
    def from_config(cls, d: Mapping[str, object]) -> AuditPolicy:
        """Build a policy from store configuration (JSON-like), reporting every problem.

        Unknown keys are rejected: a misspelt key silently falling back to the default
        would audit a store differently from what its manager wrote.
        """
        if not isinstance(d, Mapping):
            raise InvalidInput(
                "audit policy: expected an object of settings",
                problems=["audit policy: expected an object of settings"],
            )
        known = {f.name: f for f in fields(cls)}
        problems: list[str] = []
        values: dict[str, Any] = {}
        for key, value in d.items():
            if key not in known:
                problems.append(
                    f"audit policy: unknown setting {key!r} (known: {', '.join(sorted(known))})"
                )
                continue
            converted, problem = _convert(key, value, _FIELD_KINDS[key])
            if problem:
                problems.append(problem)
            else:
                values[key] = converted
        # Range-check the well-typed values now too, so one pass reports every problem.
        candidate = object.__new__(cls)
        for name, f in known.items():
            object.__setattr__(candidate, name, values.get(name, f.default))
        problems.extend(_range_problems(candidate))
        if problems:
            raise InvalidInput(_problem_message(problems), problems=problems)
        return cls(**values)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, stored with a decision so it can be explained later."""
        out = asdict(self)
        out["risky_categories"] = sorted(self.risky_categories)
        return out


_FIELD_KINDS: dict[str, str] = {
    "base_rate": "float",
    "partial_share": "float",
    "partial_items": "int",
    "first_trip_always": "bool",
    "risky_categories": "categories",
    "risky_share_factor": "float",
    "risky_pick_factor": "float",
    "high_value_cents": "int",
    "high_value_factor": "float",
    "very_high_value_cents": "int",
    "many_items": "int",
    "many_items_factor": "float",
    "max_days_without_audit": "int_or_none",
    "discrepancy_weight": "float",
    "min_trust_factor": "float",
    "recent_discrepancy_days": "int",
    "max_probability": "float",
    "own_phone_factor": "float",
}


def _convert(key: str, value: object, kind: str) -> tuple[object, str | None]:
    """Check one configuration value's type; bools are not numbers here (JSON's true ≠ 1)."""
    prefix = f"audit policy: {key}"
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        return None, f"{prefix} must be true or false, not {value!r}"
    if kind == "int" or (kind == "int_or_none" and value is not None):
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
            return int(value), None
        return None, f"{prefix} must be a whole number, not {value!r}"
    if kind == "int_or_none":
        return None, None
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                return None, f"{prefix} must be a finite number, not {value!r}"
            return float(value), None
        return None, f"{prefix} must be a number, not {value!r}"
    if kind == "categories":
        if isinstance(value, str) or not isinstance(value, Iterable):
            return None, f"{prefix} must be a list of category names, not {value!r}"
        items = list(value)
        if not all(isinstance(item, str) and item.strip() for item in items):
            return None, f"{prefix} must be a list of non-empty category names, not {value!r}"
        return frozenset(item.strip() for item in items), None
    raise AssertionError(kind)  # pragma: no cover - _FIELD_KINDS covers every field


def _range_problems(p: AuditPolicy) -> list[str]:
    problems: list[str] = []

    def check(ok: bool, text: str) -> None:
        if not ok:
            problems.append(f"audit policy: {text}")

    def number(name: str) -> bool:
        value = getattr(p, name)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
        check(ok, f"{name} must be a number, not {value!r}")
        return ok

    def whole(name: str) -> bool:
        value = getattr(p, name)
        ok = isinstance(value, int) and not isinstance(value, bool)
        check(ok, f"{name} must be a whole number, not {value!r}")
        return ok

    for name in ("base_rate", "partial_share", "min_trust_factor"):
        if number(name):
            value = getattr(p, name)
            check(0.0 <= value <= 1.0, f"{name} must be between 0 and 1, not {value!r}")
    if number("max_probability"):
        check(
            0.0 < p.max_probability <= 1.0,
            f"max_probability must be above 0 and at most 1, not {p.max_probability!r}",
        )
    for name in ("risky_share_factor", "discrepancy_weight"):
        if number(name):
            check(getattr(p, name) >= 0, f"{name} must not be negative, not {getattr(p, name)!r}")
    factors = ("risky_pick_factor", "high_value_factor", "many_items_factor", "own_phone_factor")
    for name in factors:
        if number(name):
            check(getattr(p, name) >= 1, f"{name} must be at least 1, not {getattr(p, name)!r}")
    for name in ("partial_items", "many_items"):
        if whole(name):
            check(getattr(p, name) >= 1, f"{name} must be at least 1, not {getattr(p, name)!r}")
    for name in ("high_value_cents", "very_high_value_cents", "recent_discrepancy_days"):
        if whole(name):
            check(getattr(p, name) >= 0, f"{name} must not be negative, not {getattr(p, name)!r}")
    if p.max_days_without_audit is not None and whole("max_days_without_audit"):
        check(
            p.max_days_without_audit >= 1,
            f"max_days_without_audit must be at least 1 (or null to turn it off), "
            f"not {p.max_days_without_audit!r}",
        )
    check(
        isinstance(p.first_trip_always, bool),
        f"first_trip_always must be true or false, not {p.first_trip_always!r}",
    )
    check(
        isinstance(p.risky_categories, frozenset)
        and all(isinstance(c, str) for c in p.risky_categories),
        f"risky_categories must be a frozenset of names, not {p.risky_categories!r}",
    )
    return problems


def _problem_message(problems: Sequence[str]) -> str:
    return "; ".join(problems)


@dataclass(frozen=True)
class ShopperHistory:
    """What the store knows about the shopper before this trip.

    ``trips`` counts finished trips before this one; ``discrepancies`` counts only
    audits where the *shopper* had under-scanned (a staff mistake is not the
    shopper's fault and must not be passed here). ``last_discrepancy_at`` is
    optional; without it a discrepancy counts as recent while it outweighs the
    clean audits since (trust score below one half).
    """

    trips: int
    audits_passed: int
    discrepancies: int
    last_audit_at: datetime | None
    last_discrepancy_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("trips", "audits_passed", "discrepancies"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f"shopper history: {name} must be a whole number >= 0")

    @classmethod
    def first_trip(cls) -> ShopperHistory:
        return cls(trips=0, audits_passed=0, discrepancies=0, last_audit_at=None)


@dataclass(frozen=True)
class AuditLine:
    """One basket line as the audit sees it (``gtin`` is the GTIN-14)."""

    gtin: str
    category: str
    qty: int
    line_total_cents: int
    age_restricted: bool = False

    def __post_init__(self) -> None:
        if not (len(self.gtin) == 14 and is_ascii_digits(self.gtin)):
            raise InvalidInput(f"audit line: gtin must be 14 digits, not {self.gtin!r}")
        if self.qty < 1:
            raise InvalidInput(f"audit line {self.gtin}: qty must be at least 1")
        if self.line_total_cents < 0:
            raise InvalidInput(f"audit line {self.gtin}: line_total_cents must not be negative")

    def to_dict(self) -> dict[str, object]:
        # By hand: dataclasses.asdict deep-copies every value, a cost paid per line at
        # every finish.
        return {
            "gtin": self.gtin,
            "category": self.category,
            "qty": self.qty,
            "line_total_cents": self.line_total_cents,
            "age_restricted": self.age_restricted,
        }


@dataclass(frozen=True)
class AuditInputs:
    """Everything a decision depends on besides the policy and the random source.

    ``total_cents`` is the basket total after promotions (what the shopper pays);
    ``now`` is the moment the basket was locked. Naive datetimes are taken as UTC,
    as the store keeps every instant in UTC.
    """

    lines: tuple[AuditLine, ...]
    total_cents: int
    history: ShopperHistory
    now: datetime
    currency: str = "EUR"
    own_phone: bool = False
    """The trip was scanned on the shopper's own phone (the shopper app), not a store device."""

    @property
    def item_count(self) -> int:
        return sum(line.qty for line in self.lines)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, stored beside the decision so staff can see what it was based on."""
        h = self.history
        return {
            "lines": [line.to_dict() for line in self.lines],
            "total_cents": self.total_cents,
            "currency": self.currency,
            "item_count": self.item_count,
            "now": _utc(self.now).isoformat(),
            "own_phone": self.own_phone,
            "history": {
                "trips": h.trips,
                "audits_passed": h.audits_passed,
                "discrepancies": h.discrepancies,
                "last_audit_at": _iso(h.last_audit_at),
                "last_discrepancy_at": _iso(h.last_discrepancy_at),
            },
        }


@dataclass(frozen=True)
class AuditDecision:
    """The outcome shown to staff: what to rescan, how likely an audit was, and why."""

    decision: Decision
    rescan: tuple[str, ...]
    """GTIN-14s to rescan, each once, in basket order (``full``: every distinct GTIN)."""
    probability: float
    """Probability this basket had of being audited (1.0 when a rule forced it)."""
    trust_score: float
    reasons: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise InvalidInput(f"audit decision must be one of {DECISIONS}, not {self.decision!r}")

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, for storing with the basket."""
        return {
            "decision": self.decision,
            "rescan": list(self.rescan),
            "probability": round(self.probability, 6),
            "trust_score": round(self.trust_score, 6),
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditDecision:
        """Read back what ``to_dict`` stored (e.g. to escalate a stored partial audit)."""
        try:
            return cls(
                decision=d["decision"],
                rescan=tuple(str(g) for g in d["rescan"]),
                probability=float(d["probability"]),
                trust_score=float(d["trust_score"]),
                reasons=tuple(str(r) for r in d["reasons"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"stored audit decision is malformed: {exc!r}") from exc


def trust_score(history: ShopperHistory, discrepancy_weight: float = 10.0) -> float:
    """How far the store trusts this shopper, from 0 (caught often) to 1 (clean record).

    ``(passed + 1) / (passed + k × discrepancies + 2)`` with ``k = discrepancy_weight``:
    the mean of a Beta(passed + 1, k × discrepancies + 1) belief that the next audit
    is clean. A shopper with no audits scores 0.5; 12 clean audits score 13/14 ≈ 0.93;
    one discrepancy with no clean audit scores 1/7 ≈ 0.14 and takes k clean audits to
    undo. Pass only the shopper's own discrepancies, never staff mistakes.
    """
    passed = history.audits_passed
    bad = discrepancy_weight * history.discrepancies
    return (passed + 1) / (passed + bad + 2)


def _trust_factor(score: float, min_factor: float) -> float:
    """Odds multiplier ``(1 - t) / t``: 1 at the neutral 0.5, below 1 when trusted."""
    return max(min_factor, (1.0 - score) / score)


def decide(inputs: AuditInputs, policy: AuditPolicy, rng: random.Random) -> AuditDecision:
    """Decide the audit for a locked basket.

    Exactly one ``rng.random()`` draw makes the audit/no-audit call (even when a rule
    forces the audit), so the same seed gives the same decision and a simulation's
    random stream does not depend on which rules fired. Further draws happen only
    for an audited basket: partial-or-full and the items to rescan.
    """
    history = inputs.history
    score = trust_score(history, policy.discrepancy_weight)
    # One pass over the lines: they are the only part of the inputs that grows.
    gtin_set: dict[str, None] = {}
    item_count = 0
    risky_items = 0
    risky_names: dict[str, None] = {}
    risky_categories = policy.risky_categories
    for line in inputs.lines:
        gtin_set[line.gtin] = None
        item_count += line.qty
        if line.category in risky_categories:
            risky_items += line.qty
            risky_names[line.category] = None
    gtins = tuple(gtin_set)
    if not gtins:
        return AuditDecision("none", (), 0.0, score, ("empty basket: nothing to rescan",))

    now = _utc(inputs.now)
    forced: list[str] = []
    reasons: list[str] = []
    probability = policy.base_rate

    if history.trips == 0 and policy.first_trip_always:
        forced.append("first trip with a loyalty card")

    factor = _trust_factor(score, policy.min_trust_factor)
    probability *= factor
    trust_reason = _trust_reason(history, factor)
    if trust_reason:
        reasons.append(trust_reason)

    if inputs.total_cents > policy.high_value_cents:
        probability *= policy.high_value_factor
        reasons.append(
            f"basket value {_money(inputs.total_cents, inputs.currency)} above "
            f"{_money(policy.high_value_cents, inputs.currency)}"
        )

    if item_count >= policy.many_items:
        probability *= policy.many_items_factor
        reasons.append(f"{item_count} items, at least {policy.many_items}")

    if risky_items:
        probability *= 1.0 + policy.risky_share_factor * risky_items / item_count
        reasons.append(
            f"{_count(risky_items, 'item')} in risky "
            f"{'category' if len(risky_names) == 1 else 'categories'} ({', '.join(risky_names)})"
        )

    if inputs.own_phone and policy.own_phone_factor != 1.0:
        probability *= policy.own_phone_factor
        reasons.append(OWN_PHONE_REASON)

    limit = policy.max_days_without_audit
    if history.last_audit_at is not None and limit is not None:
        days = max(0.0, (now - _utc(history.last_audit_at)).total_seconds() / _SECONDS_PER_DAY)
        half = limit / 2
        if days >= limit:
            forced.append(f"no audit for {int(days)} days (limit {limit})")
        elif days > half:
            probability *= 1.0 + (days - half) / half
            reasons.append(f"no audit for {int(days)} days")

    capped = probability >= policy.max_probability
    probability = min(probability, policy.max_probability)

    draw = rng.random()
    if forced:
        probability = 1.0
        reasons = forced + reasons
    elif draw >= probability:
        reasons.append(f"not selected by the random check (probability {_pct(probability)})")
        return AuditDecision("none", (), probability, score, tuple(reasons))
    elif probability == policy.base_rate:
        reasons.append(f"random check (base rate {_pct(policy.base_rate)})")
    else:
        cap_note = ", the maximum" if capped else ""
        reasons.append(
            f"random check (base rate {_pct(policy.base_rate)}, "
            f"this basket {_pct(probability)}{cap_note})"
        )

    full_reason = _full_reason(inputs, policy, score, now)
    if full_reason is None and rng.random() >= policy.partial_share:
        full_reason = f"random full rescan ({_pct(1.0 - policy.partial_share)} of audits)"
    if full_reason is not None:
        reasons.append(full_reason)
        return AuditDecision("full", gtins, probability, score, tuple(reasons))

    picked = _pick_partial(inputs.lines, policy, rng)
    reasons.append(
        f"partial rescan of {_count(len(picked), 'item')}, "
        f"chosen at random favouring valuable and risky ones"
    )
    return AuditDecision("partial", picked, probability, score, tuple(reasons))


def escalate(decision: AuditDecision, all_gtins: Sequence[str], reason: str) -> AuditDecision:
    """Turn an audit into a full rescan, e.g. after a partial rescan found a discrepancy.

    ``all_gtins`` are the basket's GTINs (duplicates are dropped, order kept); the
    original reasons stay, ``reason`` is appended so staff see why it grew.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("escalation needs a reason staff can read")
    gtins = tuple(dict.fromkeys(all_gtins))
    if not gtins:
        raise InvalidInput("cannot escalate to a full rescan of an empty basket")
    return AuditDecision(
        "full",
        gtins,
        decision.probability,
        decision.trust_score,
        (*decision.reasons, reason.strip()),
    )


def _full_reason(
    inputs: AuditInputs, policy: AuditPolicy, score: float, now: datetime
) -> str | None:
    history = inputs.history
    if history.discrepancies:
        last = history.last_discrepancy_at
        if last is not None:
            days = max(0.0, (now - _utc(last)).total_seconds() / _SECONDS_PER_DAY)
            if days <= policy.recent_discrepancy_days:
                return f"discrepancy found {int(days)} days ago: full rescan"
        elif score < 0.5:
            return "past discrepancies outweigh clean audits: full rescan"
    if inputs.total_cents >= policy.very_high_value_cents:
        return (
            f"basket value {_money(inputs.total_cents, inputs.currency)} at or above "
            f"{_money(policy.very_high_value_cents, inputs.currency)}: full rescan"
        )
    return None


def _pick_partial(
    lines: Sequence[AuditLine], policy: AuditPolicy, rng: random.Random
) -> tuple[str, ...]:
    """Weighted sampling without replacement of ``partial_items`` distinct GTINs.

    A GTIN's weight is its line value in cents plus 100 (so cheap items still get
    picked sometimes), times ``risky_pick_factor`` when it is in a risky category or
    age-restricted: under-scanning concentrates on valuable, resellable items.
    The result is in basket order, which is how staff walk the trolley.
    """
    weights: dict[str, float] = {}
    for line in lines:
        risky = line.category in policy.risky_categories or line.age_restricted
        weight = (line.line_total_cents + 100) * (policy.risky_pick_factor if risky else 1.0)
        weights[line.gtin] = max(weights.get(line.gtin, 0.0), weight)
    order = list(weights)
    if len(order) <= policy.partial_items:
        return tuple(order)
    remaining = dict(weights)
    chosen: set[str] = set()
    for _ in range(policy.partial_items):
        target = rng.random() * sum(remaining.values())
        running = 0.0
        pick = next(reversed(remaining))  # float rounding fallback
        for gtin, weight in remaining.items():
            running += weight
            if target < running:
                pick = gtin
                break
        chosen.add(pick)
        del remaining[pick]
    return tuple(g for g in order if g in chosen)


def _trust_reason(history: ShopperHistory, factor: float) -> str | None:
    passed, bad = history.audits_passed, history.discrepancies
    if bad:
        text = f"{_count(bad, 'discrepancy', 'discrepancies')} found in past audits"
        if passed:
            text += f", {_count(passed, 'clean audit')}"
        return text
    if passed and factor < 1.0:
        return f"trusted shopper: {_count(passed, 'clean audit')}"
    return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat()


def _money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    units, minor = divmod(abs(cents), 100)
    return f"{sign}{units}.{minor:02d} {currency}"


def _pct(fraction: float) -> str:
    value = fraction * 100
    if 0 < value < 0.01:
        return "<0.01%"
    return f"{value:.3g}%"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
