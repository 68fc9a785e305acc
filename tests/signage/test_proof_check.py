"""The rules that tell a possible play from an impossible one (signage.proof_check)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from signage.proof_check import TOLERANCE, over_the_loop, slot_of, why_implausible
from signage.scheduling.model import CampaignSpec, Daypart, ScreenSpec, Targets

NORTH = ScreenSpec("S-01", "north", frozenset(), 10, 6, "Europe/Paris")
SOUTH = ScreenSpec("S-02", "south", frozenset(), 10, 6, "Europe/Paris")
NOW = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)  # a Saturday
MAX_AGE = timedelta(hours=72)


def campaign(**changes: object) -> CampaignSpec:
    fields: dict[str, object] = {
        "id": "K-1",
        "advertiser": "A",
        "category": None,
        "creatives": ("CR-A",),
        "start": date(2026, 11, 1),
        "end": date(2026, 11, 30),
        "days": frozenset({5}),
        "dayparts": (Daypart(time(10), time(12)),),
        "targets": Targets(zones=frozenset({"north"})),
        "priority": "guaranteed",
        "share_of_voice": 0.34,
        "max_plays_per_hour": None,
    }
    fields.update(changes)
    return CampaignSpec(**fields)  # type: ignore[arg-type]


def why(at: datetime, *, screen: ScreenSpec = NORTH, creative: str = "CR-A") -> str | None:
    return why_implausible(
        screen=screen,
        campaign=campaign(),
        creative_id=creative,
        started_at=at,
        now=NOW,
        max_age=MAX_AGE,
    )


def test_a_play_on_air_on_its_screen_is_plausible() -> None:
    assert why(datetime(2026, 11, 7, 9, 30, tzinfo=UTC)) is None  # 10:30 in Paris


def test_each_impossibility_is_named() -> None:
    on_air = datetime(2026, 11, 7, 9, 30, tzinfo=UTC)
    assert "does not target" in (why(on_air, screen=SOUTH) or "")
    assert "is not one of" in (why(on_air, creative="CR-B") or "")
    assert "not on air" in (why(datetime(2026, 11, 7, 8, 0, tzinfo=UTC)) or "")  # 09:00
    assert "not on air" in (why(datetime(2026, 11, 6, 9, 30, tzinfo=UTC)) or "")  # a Friday
    assert "older than 72 hours" in (why(NOW - MAX_AGE - timedelta(seconds=1)) or "")


def test_the_window_edges_have_a_tolerance() -> None:
    opens = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)  # 10:00 in Paris
    assert why(opens - TOLERANCE) is None
    assert why(opens - TOLERANCE - timedelta(seconds=1)) is not None


def test_house_content_outside_campaigns_is_judged_by_age_only() -> None:
    kwargs = {"screen": SOUTH, "campaign": None, "creative_id": "CR-H", "now": NOW}
    assert why_implausible(started_at=NOW, max_age=MAX_AGE, **kwargs) is None  # type: ignore[arg-type]


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=50), st.integers(1, 60))
def test_at_most_one_play_per_slot_survives(offsets: list[int], slot: int) -> None:
    plays = [(i, NOW + timedelta(seconds=o)) for i, o in enumerate(offsets)]
    extra = over_the_loop(plays, [], slot)
    kept = [at for key, at in plays if key not in extra]
    slots = [slot_of(at, slot) for at in kept]
    assert len(slots) == len(set(slots))
    assert {slot_of(at, slot) for _, at in plays} == set(slots)  # every slot keeps one
