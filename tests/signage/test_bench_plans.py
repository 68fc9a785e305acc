"""The signage benchmarks' random malls are plans the server accepts, at any size."""

from __future__ import annotations

import pytest

from benchmarks.loop_bench import plan_file
from signage.scheduling.plan import parse_plan


@pytest.mark.parametrize("screens", [1, 3, 20])
@pytest.mark.parametrize("seed", range(5))
def test_a_small_mall_targets_only_zones_and_groups_it_has(screens: int, seed: int) -> None:
    plan = parse_plan(plan_file(screens, 50, seed))
    assert len(plan.screens) == screens
    assert any(c.targets.zones or c.targets.groups for c in plan.campaigns)
