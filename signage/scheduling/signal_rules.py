"""Campaign signal rules: "coffee momentum in store-1 above its daily median".

Pure. The rule language is a small JSON object::

    {"signal": "momentum:coffee", "store": "store-1", "op": ">", "value": "daily_median"}
    {"signal": "active_shoppers", "store": "store-1", "zone": "north", "op": ">", "value": 40}

* ``signal`` — ``active_shoppers``, ``momentum:<category slug>`` or ``hour_of_day``
  (names published by ``store_server.signals``);
* ``store`` — the store whose signal it is; ``zone`` (optional) narrows it to one zone;
* ``op`` — ``>``, ``>=``, ``<`` or ``<=``;
* ``value`` — a number, or ``"daily_median"``: the signal's median over the last 24 hours.

Part of the plan language (``signage.scheduling.plan`` parses it), so it lives with
the scheduler. The scheduler knows only ``SignalRule(signal, op, value)`` over a flat
``Mapping[str, float]``. :meth:`StoreSignalRule.scheduler_rule` turns a rule into one
over a *key* that :class:`signage.signals.board.SignalBoard` fills in:

* ``store-1/momentum:coffee`` (or ``store-1/north/active_shoppers``) — the latest value;
* ``store-1/momentum:coffee-daily_median`` — latest value minus its daily median, so a
  ``daily_median`` rule becomes ``key op 0`` and the scheduler's Reason prints which
  signal, store and comparison matched, with the distance from the median.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from signage.scheduling.model import SignalRule
from store_server.shared.errors import InvalidInput

RuleOp = Literal[">", ">=", "<", "<="]
OPS: tuple[str, ...] = (">", ">=", "<", "<=")
DAILY_MEDIAN = "daily_median"
MEDIAN_SUFFIX = "-" + DAILY_MEDIAN
RULE_KEYS = frozenset({"signal", "store", "zone", "op", "value"})
SIGNAL_NAME = re.compile(r"^(active_shoppers|hour_of_day|momentum:[a-z0-9][a-z0-9_.-]{0,79})$")
SCOPE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def signal_key(store_id: str, signal: str, zone: str | None = None) -> str:
    """The key of one signal in the scheduler's ``signals`` mapping."""
    return f"{store_id}/{signal}" if zone is None else f"{store_id}/{zone}/{signal}"


def median_key(key: str) -> str:
    """The key holding ``latest - daily median`` for ``key``."""
    return key + MEDIAN_SUFFIX


@dataclass(frozen=True)
class StoreSignalRule:
    signal: str
    store: str
    op: RuleOp
    value: float | Literal["daily_median"]
    zone: str | None = None

    @classmethod
    def parse(cls, raw: object) -> StoreSignalRule:
        """Validate a rule object, reporting every problem at once (InvalidInput)."""
        if not isinstance(raw, Mapping):
            raise InvalidInput("a signal rule must be an object", problems=["not an object"])
        problems: list[str] = []
        unknown = sorted(str(k) for k in raw if k not in RULE_KEYS)
        if unknown:
            problems.append(
                f"unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(RULE_KEYS))})"
            )
        signal = raw.get("signal")
        if not isinstance(signal, str) or not SIGNAL_NAME.match(signal):
            problems.append(
                "signal must be active_shoppers, hour_of_day or "
                f"momentum:<category>, got {signal!r}"
            )
        store = raw.get("store")
        if not isinstance(store, str) or not SCOPE_ID.match(store):
            problems.append(f"store must be a store id, got {store!r}")
        zone = raw.get("zone")
        if zone is not None and (not isinstance(zone, str) or not SCOPE_ID.match(zone)):
            problems.append(f"zone must be a zone id or absent, got {zone!r}")
        op = raw.get("op")
        if op not in OPS:
            problems.append(f"op must be one of {' '.join(OPS)}, got {op!r}")
        value = raw.get("value")
        if value == DAILY_MEDIAN:
            if signal == "hour_of_day":
                problems.append("hour_of_day has no daily median; compare it with a number")
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            problems.append(f'value must be a number or "daily_median", got {value!r}')
        if problems:
            raise InvalidInput("bad signal rule: " + "; ".join(problems), problems=problems)
        threshold: float | Literal["daily_median"] = (
            "daily_median" if value == DAILY_MEDIAN else float(cast(float, value))
        )
        return cls(
            signal=cast(str, signal),
            store=cast(str, store),
            op=cast(RuleOp, op),
            value=threshold,
            zone=cast("str | None", zone),
        )

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "signal": self.signal,
            "store": self.store,
            "op": self.op,
            "value": self.value,
        }
        if self.zone is not None:
            data["zone"] = self.zone
        return data

    @property
    def key(self) -> str:
        """The scheduler key this rule reads."""
        base = signal_key(self.store, self.signal, self.zone)
        return median_key(base) if self.value == DAILY_MEDIAN else base

    def scheduler_rule(self) -> SignalRule:
        """The scheduler's form: ``key op threshold`` (threshold 0 for median rules)."""
        threshold = 0.0 if self.value == DAILY_MEDIAN else float(self.value)
        return SignalRule(signal=self.key, op=self.op, value=threshold)

    def holds(self, signals: Mapping[str, float]) -> tuple[bool, str]:
        """``(met, explanation)``, exactly as the scheduler will judge it."""
        return self.scheduler_rule().holds(signals)


def explain_rules(
    rules: Mapping[str, StoreSignalRule], signals: Mapping[str, float]
) -> dict[str, tuple[bool, str]]:
    """Per campaign id, whether its rule holds and why, for consoles and proof reports.

    The scheduler's Reason names the rule when it keeps a campaign *out*; this gives the
    matching sentence for the campaigns it let in."""
    return {campaign_id: rule.holds(signals) for campaign_id, rule in rules.items()}
