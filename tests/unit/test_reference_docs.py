"""The reference pages under docs/reference/ say what the code says (`make docs` writes them)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

REFERENCE = runpy.run_path(str(Path(__file__).parents[2] / "docs" / "reference.py"))


@pytest.mark.parametrize("page", sorted(REFERENCE["PAGES"]))
def test_the_committed_page_is_what_the_code_says(page: str) -> None:
    committed = REFERENCE["OUT"] / page
    assert committed.exists(), f"docs/reference/{page} is missing: run `make docs`"
    assert committed.read_text() == REFERENCE["PAGES"][page](), (
        f"docs/reference/{page} is stale: run `make docs`"
    )


def test_every_route_says_who_may_call_it() -> None:
    page = REFERENCE["routes_page"]()
    rows = [line for line in page.splitlines() if line.startswith(("| GET", "| POST", "| P"))]
    assert rows
    assert all(line.rstrip(" |").rsplit("|", 1)[-1].strip() for line in rows)
