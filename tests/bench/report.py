"""The bench's plot: latency over time and throughput, one PNG per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt


def plot(figures: dict[str, Any], path: Path) -> None:
    """Three panels: mail arriving (raw loop vs drains), 201 → e-mail latency, big meeting."""
    fig, (arrivals, steady, big) = plt.subplots(3, 1, figsize=(10, 12))
    for key, label in (
        ("baseline", "raw loop"),
        ("drain_empty", "drain, empty ledger"),
        ("drain_history", "drain, with history"),
    ):
        times = figures.get(key, {}).get("arrivals_s") or []
        if times:
            arrivals.plot(times, range(1, len(times) + 1), label=label)
    arrivals.set(title="E-mails at the SMTP server", xlabel="seconds", ylabel="e-mails")
    arrivals.legend()
    for run in figures.get("steady", []):
        series = run.get("series") or []
        if series:
            xs, ys = zip(*series, strict=True)
            steady.scatter(xs, ys, s=4, label=f"{run['rate_per_s']:g} registrations/s")
    steady.axhline(500, color="red", linewidth=0.8, label="p99 target (500 ms)")
    steady.set(title="201 → e-mail received", xlabel="seconds into the run", ylabel="ms")
    steady.legend()
    latencies = figures.get("big_meeting", {}).get("series") or []
    if latencies:
        big.plot(range(1, len(latencies) + 1), latencies, linewidth=0.4)
    big.set(
        title="Registrations to one meeting, one after another",
        xlabel="registration number",
        ylabel="HTTP ms",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
