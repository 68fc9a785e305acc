"""Store signals on the mall side: the latest anonymous aggregates and campaign rules."""

from __future__ import annotations

from signage.scheduling.signal_rules import StoreSignalRule, explain_rules, median_key, signal_key
from signage.signals.board import SignalBoard
from signage.signals.subscriber import (
    DEFAULT_BOARD,
    current_signals,
    run_signal_subscriber,
    start_signal_subscriber,
)

__all__ = [
    "DEFAULT_BOARD",
    "SignalBoard",
    "StoreSignalRule",
    "current_signals",
    "explain_rules",
    "median_key",
    "run_signal_subscriber",
    "signal_key",
    "start_signal_subscriber",
]
