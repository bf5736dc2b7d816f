"""Which requests at the e-mail's link get the page: those of browsers, and no API client's."""

from __future__ import annotations

import pytest

from services.meetings.api.pages import prefers_html

CHROMIUM = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [CHROMIUM, FIREFOX, "text/html", "TEXT/HTML; charset=utf-8"])
def test_a_browser_gets_the_page(accept: str) -> None:
    assert prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "*/*",
        "application/json",
        "application/json, text/html",
        "text/html;q=0.5, application/json",
        "text/html;q=0",
        "text/*",
        "text/html;q=0.9, application/*",
        "text/html;q=oops",
    ],
)
def test_an_api_client_keeps_the_json(accept: str) -> None:
    assert not prefers_html(accept)


def test_the_most_specific_range_says_how_much_json_is_wanted() -> None:
    assert prefers_html("application/json;q=0.5, */*, text/html;q=0.8")
