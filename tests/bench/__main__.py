"""`python -m tests.bench`: run the scenarios, print the table, write JSON and a plot."""

from __future__ import annotations

import asyncio
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tests.bench import scenarios
from tests.bench.stack import Servers

ROOT = Path(__file__).resolve().parents[2]
app = typer.Typer(add_completion=False)


@app.command()
def main(
    events: Annotated[int, typer.Option(help="Events for the baseline and drain")] = 600,
    history: Annotated[int, typer.Option(help="Ledger rows for the drain with history")] = 100_000,
    profile: Annotated[bool, typer.Option(help="Sample the services with py-spy")] = False,
    results: Annotated[Path, typer.Option(help="Where JSON and plots go")] = ROOT / "bench-results",
) -> None:
    asyncio.run(_run(events=events, history=history, results=results, profile=profile))


async def _run(*, events: int, history: int, results: Path, profile: bool) -> None:
    console = Console()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = results / stamp
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "date": stamp,
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    with Progress(console=console, transient=True) as progress:
        ctx = scenarios.Context(Servers.from_environment(), out, progress, profile=profile)
        figures["baseline"] = await scenarios.baseline(ctx, events=events)
        figures["drain_empty"] = await scenarios.drain(ctx, events=events, history=0)
        if history:
            figures["drain_history"] = await scenarios.drain(ctx, events=events, history=history)
    base = figures["baseline"]["emails_per_s"] or 1.0
    table = Table(title="make bench")
    for column in ("scenario", "figure", "value", "ratio to baseline"):
        table.add_column(column)
    table.add_row("baseline", "e-mails/s", f"{base:.1f}", "1.00")
    for key in ("drain_empty", "drain_history"):
        if key in figures:
            rate = figures[key]["emails_per_s"]
            table.add_row(key, "e-mails/s", f"{rate:.1f}", f"{rate / base:.2f}")
            table.add_row(key, "peak RSS MiB", f"{figures[key]['peak_rss_mb']:.0f}", "")
    console.print(table)
    (out / "results.json").write_text(json.dumps(figures, indent=2, default=str))
    console.print(f"results: {out}")


if __name__ == "__main__":
    app()
