"""Pure signage scheduling: plan validation, loop building and guaranteed availability.

No I/O and no framework imports, so the API server, the CLI loader, the operator
console and the benchmarks all compute the same loops from the same specs.
"""

from __future__ import annotations

from signage.scheduling.availability import guaranteed_free_slots
from signage.scheduling.loop import (
    Loop,
    Reason,
    Slot,
    build_loop,
    loop_index_at,
    loops_for_day,
    plays_for_day,
    slot_at,
)
from signage.scheduling.model import (
    CampaignSpec,
    CreativeSpec,
    Daypart,
    Plan,
    ScreenSpec,
    SignalRule,
    Targets,
)
from signage.scheduling.plan import Stored, check_overbooking, creatives_too_long, parse_plan

__all__ = [
    "CampaignSpec",
    "CreativeSpec",
    "Daypart",
    "Loop",
    "Plan",
    "Reason",
    "ScreenSpec",
    "SignalRule",
    "Slot",
    "Stored",
    "Targets",
    "build_loop",
    "check_overbooking",
    "creatives_too_long",
    "guaranteed_free_slots",
    "loop_index_at",
    "loops_for_day",
    "plays_for_day",
    "parse_plan",
    "slot_at",
]
