"""Prometheus metrics of a store server, served at ``/metrics``.

Counters and histograms live in each process; with ``caddie serve --workers N`` the
workers write them to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` (the serve
command sets one up) and whichever worker answers a scrape adds them all up. Facts of
the whole store (open baskets) are read from the database at scrape time instead, so
every process reports the same value: aggregate them with ``max``, not ``sum``.

Other packages record through the functions here (``record_plays`` for signage proof of
play) rather than defining metrics of their own, so names stay in one place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

SCANS = Counter(
    "caddie_scans",
    "Scans applied to baskets (replayed ids are not counted again).",
)
REQUESTS = Counter(
    "caddie_handheld_requests",
    "Handheld requests answered, by type and outcome (applied, replayed, error).",
    ["type", "outcome"],
)
ACK_LATENCY = Histogram(
    "caddie_ack_latency_seconds",
    "From a handheld frame's arrival to its reply being sent.",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUDITS = Counter(
    "caddie_audit_decisions",
    "Audit decisions of finished baskets, by kind (none, partial, full).",
    ["decision"],
)
HANDHELDS = Gauge(
    "caddie_connected_handhelds",
    "Handheld sockets that said hello and are still open.",
    multiprocess_mode="livesum",
)
PLAYS = Counter(
    "caddie_signage_plays",
    "Signage plays accepted by proof of play (duplicates not counted).",
)
DISCONNECTS = Counter(
    "caddie_handheld_closes",
    "Handheld sockets the server closed, by close code (1012 restart, 1013 try again).",
    ["code"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def record_plays(n: int) -> None:
    """Count ``n`` newly accepted signage plays (call it from proof of play)."""
    if n > 0:
        PLAYS.inc(n)


def record_reply(kind: str, outcome: str, started: float) -> None:
    """One handheld request answered; ``started`` is ``time.perf_counter()`` at arrival."""
    ACK_LATENCY.labels(kind).observe(time.perf_counter() - started)
    REQUESTS.labels(kind, outcome).inc()
    if kind == "scan" and outcome == "applied":
        SCANS.inc()


def record_audit(decision: str) -> None:
    AUDITS.labels(decision).inc()


def record_close(code: int) -> None:
    DISCONNECTS.labels(str(code)).inc()


def mark_process_dead(pid: int | None = None) -> None:
    """Drop this process's live gauges from the shared directory as it exits."""
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), directory)  # type: ignore[no-untyped-call]


# The manager console's headline figures of the current local day, per store (gauges:
# they restart from zero at local midnight). Read from the hourly rollup at scrape time.
MANAGER_GAUGES: dict[str, str] = {
    "trips_started": "Trips started today.",
    "trips_paid": "Trips started today and paid.",
    "sales_cents": "Self-scan sales of today's trips, in minor units.",
    "audits": "Audits released today.",
    "audits_hit": "Audits today that found a shopper discrepancy.",
    "recovered_cents": "Value audits recovered today, in minor units.",
    "unrecovered_cents": "Estimated under-scanning on today's unaudited trips, minor units.",
    "scan_unknown_product": "Scans today of codes the catalog does not know.",
}


def exposition(
    store_facts: dict[str, dict[str, int]],
    manager_facts: dict[str, dict[str, float]] | None = None,
) -> tuple[bytes, str]:
    """The ``/metrics`` body: this process's (or all workers') metrics plus store facts
    read at scrape time (``{"caddie_baskets": {"open": 3, ...}}``) and the manager
    console's figures of today (``{"store-1": {"trips_started": 120, ...}}``)."""
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        registry: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    facts = _Facts(store_facts, manager_facts or {})
    return generate_latest(registry) + generate_latest(facts), CONTENT_TYPE_LATEST


class _Facts:
    """Scrape-time values as metric families: plain numbers, never written to the
    multi-process files (which would keep a stale copy per worker)."""

    def __init__(
        self, store_facts: dict[str, dict[str, int]], manager: dict[str, dict[str, float]]
    ) -> None:
        self.baskets = store_facts.get("caddie_baskets", {})
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "caddie_baskets",
            "Baskets in this store server's database by status (open = shopping now).",
            labels=["status"],
        )
        for status, count in sorted(self.baskets.items()):
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily(
            "caddie_open_baskets",
            "Baskets being filled right now.",
            value=self.baskets.get("open", 0),
        )
        for name, help_text in MANAGER_GAUGES.items():
            family = GaugeMetricFamily(f"caddie_today_{name}", help_text, labels=["store"])
            for store, values in sorted(self.manager.items()):
                family.add_metric([store], values.get(name, 0))
            yield family
