#!/usr/bin/env python3
"""A till taking payment for a Caddie self-scan basket: the whole integration in one file.

    export CADDIE_POS_TOKEN=...        # printed once by POST /api/checkout/pos-terminals
    python docs/examples/pos_till.py --server http://127.0.0.1:8000 CADDIE-PAY:K7M2Q9X4TB \\
        --reference TILL-3-000815

It fetches the hand-off the staff console released (the code the till scanned from the
console's QR code or Code128, with or without its ``CADDIE-PAY:`` prefix), prints what
to charge, and reports the payment. Reporting is idempotent by ``--reference``: after a
timeout, run it again with the same reference. Needs only httpx.

Exit status: 0 paid (or already paid with this reference), 1 refused (the message says
why), 2 the server could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import httpx


def money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    units, minor = divmod(abs(cents), 100)
    return f"{sign}{units}.{minor:02d} {currency}"


def token_from(args: argparse.Namespace) -> str:
    """The till's token from a file or the environment: never on the command line,
    where any user of the machine can read it in the process list."""
    if args.token_file:
        return Path(args.token_file).read_text().strip()
    token = os.environ.get("CADDIE_POS_TOKEN", "").strip()
    if not token:
        sys.exit("set CADDIE_POS_TOKEN or pass --token-file")
    return token


def refused(reply: httpx.Response) -> str:
    try:
        error = reply.json()["error"]
        return f"{reply.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{reply.status_code}: {reply.text[:200]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("code", help="what the till scanned: CADDIE-PAY:<code> or the code")
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--reference", required=True, help="this payment's own reference")
    parser.add_argument("--token-file", help="file holding the till's token")
    parser.add_argument("--amount-cents", type=int, help="amount taken (default: the total)")
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {token_from(args)}"}
    try:
        with httpx.Client(base_url=args.server, headers=headers, timeout=10) as api:
            # 1. The hand-off: frozen lines, discounts, taxes and the total to charge.
            got = api.get(f"/api/pos/handoffs/{args.code}")
            if got.status_code != 200:
                print(f"cannot fetch the hand-off: {refused(got)}", file=sys.stderr)
                return 1
            handoff = got.json()
            currency = handoff["currency"]
            print(f"basket {handoff['basket_id'][:8]} from handheld {handoff['device_id']}")
            for line in handoff["lines"]:
                price = money(line["line_total_cents"], currency)
                print(f"  {line['qty']:>3} x {line['name']:<32} {price:>14}")
            for discount in handoff["discounts"]:
                saved = money(-discount["amount_cents"], currency)
                print(f"      {discount['label']:<32} {saved:>14}")
            print(
                f"  total {money(handoff['total_cents'], currency)}"
                f" (tax {money(handoff['tax_cents'], currency)})"
            )
            if handoff["status"] == "expired":
                print("this hand-off expired: ask staff to check the basket again", file=sys.stderr)
                return 1
            # 2. ... the till takes the money here ...
            amount = handoff["total_cents"] if args.amount_cents is None else args.amount_cents
            # 3. Report it. Same reference again = same answer (safe to retry).
            paid = api.post(
                f"/api/pos/handoffs/{handoff['code']}/paid",
                json={"payment_reference": args.reference, "amount_cents": amount},
            )
            if paid.status_code != 200:
                print(f"payment not recorded: {refused(paid)}", file=sys.stderr)
                return 1
            body = paid.json()
            again = " (reported before)" if body["replayed"] else ""
            print(
                f"paid {money(body['total_cents'], currency)}, reference "
                f"{body['payment_reference']}{again}"
            )
            return 0
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.server}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
