"""Sampling profiles of a service process with py-spy, summarised for the report."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    """`py-spy record` attached to a running process, writing collapsed stacks."""

    def __init__(self, pid: int, out: Path, *, rate: int = 200) -> None:
        self.out = out
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self._process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)
        self._process.wait(30)


def summarise(collapsed: Path, *, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Share of samples per function: where time is spent (self) and under what (total)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    share = lambda c: [(name, round(100 * n / samples, 1)) for name, n in c.most_common(top)]  # noqa: E731
    return {"samples": [("all", samples)], "self": share(own), "total": share(total)}
