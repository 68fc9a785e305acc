"""mypy --strict over the pure domain core and the scan path, so a type slip fails the suite
like any bug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The modules with no I/O (pricing, the catalog service, the loop scheduler, the audit
# policy, the handheld's core) and the scan path that every acknowledged scan goes through.
STRICT_PATHS = [
    "store_server/shared",
    "store_server/pricing",
    "store_server/catalog/service.py",
    "signage/scheduling",
    "signage/lifecycle.py",
    "signage/calendar.py",
    "signage/health.py",
    "signage/reports.py",
    "signage/rollup.py",
    "store_server/checkout/audit_policy.py",
    "store_server/checkout/wording.py",
    "store_server/baskets/service.py",
    "store_server/baskets/scan_sql.py",
    "store_server/handheld",
    "store_server/group_commit.py",
    "handheld_client/core.py",
    "handheld_client/trip.py",
    "store_server/unit_of_work.py",
]


def test_domain_core_is_strictly_typed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *STRICT_PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
