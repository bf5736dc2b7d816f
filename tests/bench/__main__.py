"""`python -m tests.bench` (`make bench`): run the scenarios, print the table, write JSON and a plot.

Every figure is measured in this run, on this machine, next to the raw loop's: the ratios
are what to compare between machines and runs, not the absolute numbers. Nothing here
asserts a figure (machines are noisy); `--smoke` runs every scenario at a small size so
the test suite keeps the bench working.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tests.bench import report, scenarios
from tests.bench.stack import Servers, remove_leftovers

ROOT = Path(__file__).resolve().parents[2]
app = typer.Typer(add_completion=False)


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is: the full bench, or the smoke run of the test suite."""

    events: int
    history: int
    steady_s: float
    steady_rates: tuple[float, ...]
    meetings: int
    sequential: int
    concurrent: int
    seats: int


FULL = Sizes(
    events=2000,
    history=100_000,
    steady_s=30,
    steady_rates=(50, 100),
    meetings=20,
    sequential=10_000,
    concurrent=1000,
    seats=300,
)
SMOKE = Sizes(
    events=60,
    history=500,
    steady_s=3,
    steady_rates=(10,),
    meetings=3,
    sequential=40,
    concurrent=30,
    seats=10,
)


@app.command()
def main(
    smoke: Annotated[
        bool, typer.Option(help="Every scenario, small (the test suite's run)")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Run only these: baseline, drain, steady, big_meeting"),
    ] = None,
    profile: Annotated[bool, typer.Option(help="Sample the drain with py-spy")] = False,
    results: Annotated[Path, typer.Option(help="Where JSON and plots go")] = ROOT / "bench-results",
) -> None:
    """Measure the spine against the raw loop; print the table, write JSON and a PNG plot."""
    # The bench runs on the dev stack, whose published development secrets it opts into.
    os.environ.setdefault("ALLOW_DEVELOPMENT_SECRETS", "true")
    chosen = set(only or ("baseline", "drain", "steady", "big_meeting"))
    out = asyncio.run(_run(SMOKE if smoke else FULL, chosen, results=results, profile=profile))
    typer.echo(f"results: {out}")


async def _run(sizes: Sizes, chosen: set[str], *, results: Path, profile: bool) -> Path:
    console = Console()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results / stamp
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "sizes": sizes.__dict__,
    }
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    servers = Servers.from_environment()
    await remove_leftovers(servers, topics=False)
    with Progress(*columns, console=console, transient=True) as progress:
        ctx = scenarios.Context(servers, out, progress, profile=profile)
        try:
            await _scenarios(ctx, sizes, chosen, figures)
        finally:
            await remove_leftovers(servers)
    console.print(_table(figures))
    (out / "results.json").write_text(json.dumps(figures, indent=2, default=str))
    report.plot(figures, out / "latency.png")
    return out


async def _scenarios(
    ctx: scenarios.Context, sizes: Sizes, chosen: set[str], figures: dict[str, Any]
) -> None:
    if "baseline" in chosen or "drain" in chosen:
        figures["baseline"] = await scenarios.baseline(ctx, events=sizes.events)
    if "drain" in chosen:
        figures["drain_empty"] = await scenarios.drain(ctx, events=sizes.events, history=0)
        figures["drain_history"] = await scenarios.drain(
            ctx, events=sizes.events, history=sizes.history
        )
    if "steady" in chosen:
        figures["steady"] = [
            await scenarios.steady(ctx, rate=rate, seconds=sizes.steady_s, meetings=sizes.meetings)
            for rate in sizes.steady_rates
        ]
    if "big_meeting" in chosen:
        figures["big_meeting"] = await scenarios.big_meeting(
            ctx, sequential=sizes.sequential, concurrent=sizes.concurrent, seats=sizes.seats
        )


def _table(figures: dict[str, Any]) -> Table:
    table = Table(title="make bench")
    for column in ("scenario", "figure", "value", "ratio / target"):
        table.add_column(column)
    base = figures.get("baseline", {}).get("emails_per_s") or 0.0
    if base:
        table.add_row("baseline (raw loop)", "e-mails/s", f"{base:.1f}", "1.00")
    for key, label in (("drain_empty", "drain, empty ledger"), ("drain_history", "drain, history")):
        if key in figures:
            drain = figures[key]
            ratio = drain["emails_per_s"] / base if base else 0.0
            table.add_row(
                f"{label} ({drain['history_rows']} rows)",
                "e-mails/s",
                f"{drain['emails_per_s']:.1f}",
                f"{ratio:.2f} (target ≥ 0.50)",
            )
            table.add_row("", "peak RSS MiB", f"{drain['peak_rss_mb']:.0f}", "< 200")
    for run in figures.get("steady", []):
        label = f"steady {run['rate_per_s']:g}/s, {run['meetings']} meetings"
        http, e2e = run["http_ms"], run["end_to_end_ms"]
        table.add_row(label, "HTTP ms p50/p95/p99", _triple(http), "")
        table.add_row("", "201 → e-mail ms p50/p95/p99", _triple(e2e), "p99 < 500")
        table.add_row("", "e-mails / registrations", f"{run['emails']}/{run['registrations']}", "")
        table.add_row("", "peak consumer lag", str(run["peak_consumer_lag"]), "")
        rss = run["peak_rss_mb"]
        table.add_row(
            "",
            "peak RSS MiB meetings/notif.",
            f"{rss['meetings']:.0f}/{rss['notifications']:.0f}",
            "< 200",
        )
    if "big_meeting" in figures:
        big = figures["big_meeting"]
        table.add_row(
            f"big meeting, {big['sequential']} one by one",
            "median ms first/last",
            f"{big['first_window_median_ms']:.1f}/{big['last_window_median_ms']:.1f}",
            f"{big['last_to_first']:.2f} (target ≤ 2)",
        )
        table.add_row(
            "", "ms by decile", " ".join(f"{d:.0f}" for d in big["latency_ms_by_decile"]), ""
        )
        table.add_row(
            f"big meeting, {big['concurrent']} at once, {big['seats']} seats",
            "confirmed / waitlisted",
            f"{big['confirmed']}/{big['waitlisted']}",
            "in arrival order" if big["arrival_order_kept"] else "ORDER BROKEN",
        )
    return table


def _triple(p: dict[str, float]) -> str:
    return f"{p['p50']:.0f}/{p['p95']:.0f}/{p['p99']:.0f}"


if __name__ == "__main__":
    app()
