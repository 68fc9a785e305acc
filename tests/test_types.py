"""mypy --strict over the pure domain core, so a type slip fails the suite like any bug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The modules with no I/O: pricing, the catalog service, the loop scheduler, the audit policy.
STRICT_PATHS = [
    "store_server/pricing",
    "store_server/catalog/service.py",
    "signage/scheduling",
    "store_server/checkout/audit_policy.py",
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
