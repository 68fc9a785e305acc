"""``caddie audit …``: try an audit policy on a simulated year before shoppers feel it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from store_server import client_json
from store_server.checkout.audit_policy import AuditPolicy
from store_server.checkout.simulation import simulate, summary_rows
from store_server.shared.errors import InvalidInput

app = typer.Typer(
    help="Checkout audit policy: simulate how often shoppers are audited and what is caught.",
    no_args_is_help=True,
)


@app.callback()
def _audit() -> None:
    """Checkout audit policy tools."""
    # A callback keeps `simulate` a named subcommand even while it is the only one.


def _load_policy(path: Path | None) -> AuditPolicy:
    if path is None:
        return AuditPolicy()
    try:
        data = client_json.loads(path.read_bytes())
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--policy"
        ) from exc
    except client_json.ClientJSONError as exc:
        raise typer.BadParameter(
            f"{path} is not valid JSON (line {exc.line}: {exc.reason})", param_hint="--policy"
        ) from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object", param_hint="--policy")
    try:
        return AuditPolicy.from_config(data)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint="--policy") from exc


@app.command("simulate")
def simulate_command(
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days to simulate.")] = 365,
    shoppers: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Shoppers with a loyalty card.")
    ] = 2000,
    dishonest_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of shoppers who under-scan.")
    ] = 0.03,
    underscan_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="For a dishonest shopper cheating on a trip: chance each item goes unscanned.",
        ),
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same figures.")] = 1,
    policy_path: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="JSON file of audit policy settings (as in the store configuration).",
            dir_okay=False,
        ),
    ] = None,
    base_rate: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Override the policy's base audit rate."),
    ] = None,
    partial_items: Annotated[
        int | None,
        typer.Option(min=1, help="Override how many items a partial audit rescans."),
    ] = None,
    first_trip_always: Annotated[
        bool | None,
        typer.Option(
            "--first-trip-always/--no-first-trip-always",
            help="Override whether a first trip is always audited.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replay synthetic shopping trips through the audit policy and print the rates."""
    policy = _load_policy(policy_path)
    overrides: dict[str, Any] = {}
    if base_rate is not None:
        overrides["base_rate"] = base_rate
    if partial_items is not None:
        overrides["partial_items"] = partial_items
    if first_trip_always is not None:
        overrides["first_trip_always"] = first_trip_always
    try:
        policy = replace(policy, **overrides)
    except InvalidInput as exc:  # pragma: no cover - the option ranges above prevent it
        raise typer.BadParameter(exc.message) from exc

    result = simulate(
        policy,
        shoppers=shoppers,
        days=days,
        dishonest_share=dishonest_share,
        underscan_item_rate=underscan_rate,
        seed=seed,
    )

    console = Console()
    console.print(
        f"Audit policy: base rate {policy.base_rate:.1%}, "
        f"partial {policy.partial_items} items, "
        f"first trip {'always' if policy.first_trip_always else 'by chance'}; seed {seed}",
        highlight=False,
    )
    table = Table(title="Audit simulation")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, value in summary_rows(result):
        table.add_row(label, value)
    console.print(table)
