"""How long the promotion engine takes to price a basket, before and after.

The server re-prices the whole basket on every scan, so ``evaluate`` is on the hot
path. For baskets of 10/30/60/100/300 units it times three cases, each with the
previous engine (``benchmarks/_promotions_reference.py``) and the current one in
the same run (the machine may be shared, so only same-run figures compare):

* ``none``: fixture promotions loaded, but no product of the basket is covered;
* ``fixture``: ``fixtures/promotions.json`` on products of ``fixtures/catalog.csv``,
  half of the units from products the promotions cover;
* ``overlap``: adversarial — a multi-buy 3-for-2, a mix-and-match 3-for-2 and 10 %
  off on the same eight wines at different prices.

The last column says whether the results are identical (``same``) or, where the
previous engine gave up its exact search and fell back to its greedy, how many cents
more the shopper saves now (``+N``). Targets: ``none`` 60 ≤ 0.3 ms, ``fixture`` 100 ≤
1 ms, ``overlap`` 300 ≤ 20 ms.

    .venv/bin/python benchmarks/pricing_bench.py [--seed 7] [--min-time 0.2]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store_server.pricing.promotion_files import load_promotions  # noqa: E402
from store_server.pricing.promotions import PricedLine, Promotion, evaluate  # noqa: E402
from store_server.shared.gs1 import normalize_gtin  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIZES = (10, 30, 60, 100, 300)


def load_reference() -> ModuleType:
    """The previous version of the engine, loaded by path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "caddie_promotions_reference", Path(__file__).with_name("_promotions_reference.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_catalog() -> list[tuple[str, str, int, Decimal]]:
    with (ROOT / "fixtures" / "catalog.csv").open(encoding="utf-8") as handle:
        return [
            (
                normalize_gtin(row["gtin"]),
                row["category"],
                int(row["price_cents"]),
                Decimal(row["tax_rate"]),
            )
            for row in csv.DictReader(handle)
            if row.get("sold_by", "unit") == "unit"
        ]


def make_lines(
    products: list[tuple[str, str, int, Decimal]], units: int, rng: random.Random, max_qty: int
) -> list[PricedLine]:
    """``units`` units over distinct products, quantities 1..max_qty per line."""
    lines: list[PricedLine] = []
    pool = list(products)
    rng.shuffle(pool)
    left = units
    while left:
        gtin, category, price, rate = pool[len(lines) % len(pool)]
        qty = min(left, rng.randint(1, max_qty))
        lines.append(
            PricedLine(
                key=f"line-{len(lines):03d}",
                gtin=gtin,
                category=category,
                qty=qty,
                unit_price_cents=price,
                line_total_cents=qty * price,
                tax_rate=rate,
            )
        )
        left -= qty
    return lines


def covered(promotions: list[Promotion], gtin: str, category: str) -> bool:
    return any(p.applies_to(gtin, category) for p in promotions)


def with_check_digit(body: str) -> str:
    """GS1 mod-10 check digit appended to a 13-digit body (a GTIN-14)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def overlap_case(units: int) -> tuple[list[PricedLine], list[Promotion]]:
    wines = [with_check_digit(f"040099{n:07d}") for n in range(8)]
    promotions = [
        Promotion.from_dict(
            {"id": "A-multi", "label": "3 for 2", "kind": "multi_buy", "gtins": wines}
            | {"buy_qty": 3, "pay_qty": 2}
        ),
        Promotion.from_dict(
            {"id": "B-mix", "label": "any 3 for 2", "kind": "mix_and_match"}
            | {"categories": ["wine"], "buy_qty": 3, "pay_qty": 2}
        ),
        Promotion.from_dict(
            {"id": "C-ten", "label": "10% off", "kind": "percent_off", "gtins": wines}
            | {"percent": "10"}
        ),
    ]
    lines = []
    for n in range(units):
        wine = n % len(wines)
        price = 499 + 130 * wine
        lines.append(PricedLine(f"w{n:03d}", wines[wine], "wine", 1, price, price, Decimal("0.2")))
    return lines, promotions


def timed(call: Callable[[], object], min_time: float) -> float:
    """Median seconds per call over repeats lasting at least ``min_time`` (3 calls minimum)."""
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < 3 or (time.perf_counter() - started < min_time and len(samples) < 2000):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per measurement")
    args = parser.parse_args()

    reference = load_reference()
    catalog = load_catalog()
    fixture_promotions = load_promotions(ROOT / "fixtures" / "promotions.json")
    uncovered = [p for p in catalog if not covered(fixture_promotions, p[0], p[1])]
    promoted = [p for p in catalog if covered(fixture_promotions, p[0], p[1])]

    print(
        f"{'case':<8} {'units':>5} {'lines':>5} {'before ms':>10} {'after ms':>9} "
        f"{'speed-up':>8}  result"
    )
    for case in ("none", "fixture", "overlap"):
        for units in SIZES:
            rng = random.Random(f"{args.seed}-{case}-{units}")
            if case == "none":
                lines = make_lines(uncovered, units, rng, max_qty=1)
                promotions = fixture_promotions
            elif case == "fixture":
                lines = make_lines(promoted, units // 2, rng, max_qty=3) + [
                    dataclasses.replace(line, key=f"other-{line.key}")
                    for line in make_lines(uncovered, units - units // 2, rng, max_qty=2)
                ]
                promotions = fixture_promotions
            else:
                lines, promotions = overlap_case(units)

            fell_back = False
            greedy = reference._greedy

            def spy(component: object, greedy: Callable[[object], object] = greedy) -> object:
                nonlocal fell_back
                fell_back = True
                return greedy(component)

            reference._greedy = spy
            old = reference.evaluate(lines, promotions, at=NOW, loyalty_card=True)
            reference._greedy = greedy
            new = evaluate(lines, promotions, at=NOW, loyalty_card=True)
            if repr(dataclasses.astuple(new)) == repr(dataclasses.astuple(old)):
                verdict = "same"
            elif fell_back and new.total_cents <= old.total_cents:
                verdict = f"+{old.total_cents - new.total_cents} (before: greedy fallback)"
            else:
                verdict = "DIFFERENT"

            def before(
                lines: list[PricedLine] = lines, promotions: list[Promotion] = promotions
            ) -> object:
                return reference.evaluate(lines, promotions, at=NOW, loyalty_card=True)

            def after(
                lines: list[PricedLine] = lines, promotions: list[Promotion] = promotions
            ) -> object:
                return evaluate(lines, promotions, at=NOW, loyalty_card=True)

            old_s = timed(before, args.min_time)
            new_s = timed(after, args.min_time)
            print(
                f"{case:<8} {units:>5} {len(lines):>5} {old_s * 1e3:>10.3f} {new_s * 1e3:>9.3f} "
                f"{old_s / new_s:>7.0f}x  {verdict}",
                flush=True,
            )


if __name__ == "__main__":
    main()
