"""The e-mail's registration link over HTTP: a page for browsers, the JSON for API clients.

The browser itself is in test_cancel_page_in_a_browser.py; these tests send the headers a
browser sends (and the ones a forged form would), against the real MongoDB-wire server and
Kafka.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.contracts import meetings as contract
from tests.integration.meetings.support import (
    BASE_URL,
    CITIES_FORUM,
    EventReader,
    Service,
    registration,
)

pytestmark = pytest.mark.integration

Plan = Callable[..., Awaitable[dict[str, Any]]]

# What Chromium sends when it opens a link.
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "Accept-Language": "en-GB,en;q=0.9",
}
# What it sends with the page's form: the page is served with `Referrer-Policy: no-referrer`,
# so the origin is "null", and Fetch metadata says where the form was.
FROM_THE_PAGE = BROWSER | {"Origin": "null", "Sec-Fetch-Site": "same-origin"}


@dataclass(frozen=True)
class Link:
    """A registration's self-service link, as the e-mail carries it."""

    url: str
    meeting_id: str
    registration_id: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.url).query)["token"][0]

    @property
    def cancel(self) -> str:
        return f"{self.path}/cancel"


async def scheduled(service: Service, plan: Plan, **changes: Any) -> str:
    meeting_id: str = (await plan(**CITIES_FORUM | changes))["meeting_id"]
    answer = await service.client.post(
        f"/meetings/{meeting_id}/schedule", headers=service.secretariat
    )
    assert answer.status_code == 200, answer.text
    return meeting_id


async def registered(service: Service, meeting_id: str, n: int = 1, **person: Any) -> Link:
    """Register a delegate; the link is the one the registration's events (and e-mail) carry."""
    answer = await service.client.post(
        f"/meetings/{meeting_id}/registrations", json=registration(n, **person)
    )
    assert answer.status_code == 201, answer.text
    registration_id: str = answer.json()["registration_id"]
    meetings = service.app.state.components
    url: str = meetings.registration_url(await service.stored(meeting_id), registration_id)
    return Link(url, meeting_id, registration_id)


async def status_of(service: Service, link: Link) -> str:
    answer = await service.client.get(link.path, params={"token": link.token})
    status: str = answer.json()["status"]
    return status


async def cancel_from_the_page(
    service: Service, link: Link, headers: dict[str, str] = FROM_THE_PAGE
) -> httpx.Response:
    return await service.client.post(link.cancel, data={"token": link.token}, headers=headers)


def tampered(link: Link) -> str:
    return link.url[:-4] + ("AAAA" if not link.url.endswith("AAAA") else "BBBB")


async def test_an_api_client_still_gets_the_json_at_the_emails_link(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan))

    anything = await service.client.get(link.url)
    json = await service.client.get(link.url, headers={"Accept": "application/json"})
    both = await service.client.get(link.url, headers={"Accept": "application/json, text/html"})

    assert {r.status_code for r in (anything, json, both)} == {200}
    assert {r.headers["content-type"] for r in (anything, json, both)} == {"application/json"}
    assert anything.json() == json.json() == both.json()
    assert anything.json()["email"] == "delegate1@example.org"
    assert anything.json()["status"] == "confirmed"
    assert anything.headers["vary"] == "Accept"


async def test_a_browser_gets_a_page_that_is_not_stored_not_referred_and_runs_no_script(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan))

    page = await service.client.get(link.url, headers=BROWSER)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy
    assert "script" not in policy
    assert "<script" not in page.text
    assert page.headers["vary"] == "Accept"


async def test_the_page_shows_the_registration_the_meeting_and_a_form_that_carries_the_token(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan))

    page = (await service.client.get(link.url, headers=BROWSER)).text

    assert '<html lang="en">' in page
    assert "Your registration is confirmed." in page
    assert CITIES_FORUM["title"] in page
    # In the meeting's own zone: 11:00 in Rotterdam on 28 November 2017.
    assert "Tuesday, 28 November 2017, 11:00\u201316:00" in page
    assert "Central European Standard Time" in page
    assert "Huis van de Wijk De Nieuwe Gaffel, Gaffelstraat 63B, Rotterdam, Netherlands" in page
    assert "Registered as Delegate 1 (delegate1@example.org)." in page
    assert f'<form method="post" action="{link.registration_id}/cancel">' in page
    assert f'<input type="hidden" name="token" value="{link.token}">' in page


async def test_the_pages_form_cancels_and_says_so(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    link = await registered(service, meeting_id)

    answer = await cancel_from_the_page(service, link)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert "Done: your registration has been cancelled." in answer.text
    assert "<form" not in answer.text
    assert await status_of(service, link) == "cancelled"
    _, _, cancellation = await events.events_of(meeting_id, 3)
    assert cancellation.value is not None
    assert dict(cancellation.headers)["ce_type"].decode() == (
        contract.RegistrationCancelled.EVENT_TYPE
    )


async def test_cancelling_twice_is_harmless(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    link = await registered(service, meeting_id)

    first = await cancel_from_the_page(service, link)
    again = await cancel_from_the_page(service, link)

    assert (first.status_code, again.status_code) == (200, 200)
    assert "Your registration had already been cancelled." in again.text
    published = await events.events_of(meeting_id, 3)
    types = [dict(r.headers)["ce_type"].decode() for r in published]
    assert types.count(contract.RegistrationCancelled.EVENT_TYPE) == 1
    assert await events.everything_of(service, meeting_id) == published


@pytest.mark.parametrize(
    "foreign",
    [
        pytest.param({"Origin": "https://attacker.example"}, id="another origin"),
        pytest.param({"Origin": "http://meetings.test:8080"}, id="another port"),
        pytest.param({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, id="hidden origin"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="a sibling site"),
    ],
)
async def test_a_form_posted_from_another_site_is_refused_and_changes_nothing(
    service: Service, plan: Plan, foreign: dict[str, str]
) -> None:
    link = await registered(service, await scheduled(service, plan))

    answer = await cancel_from_the_page(service, link, headers=BROWSER | foreign)

    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "Request refused" in answer.text
    assert await status_of(service, link) == "confirmed"


async def test_a_form_from_this_services_own_origin_is_accepted(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan))

    answer = await cancel_from_the_page(service, link, headers=BROWSER | {"Origin": BASE_URL})

    assert answer.status_code == 200
    assert await status_of(service, link) == "cancelled"


async def test_a_tampered_link_answers_a_403_page_to_a_browser_and_a_problem_to_an_api_client(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan))

    page = await service.client.get(tampered(link), headers=BROWSER)
    problem = await service.client.get(tampered(link))

    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "This link is not valid" in page.text
    assert "delegate1@example.org" not in page.text
    assert problem.status_code == 403
    assert problem.headers["content-type"] == "application/problem+json"


async def test_one_registrations_link_neither_shows_nor_cancels_another(
    service: Service, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    mine = await registered(service, meeting_id, 1)
    theirs = await registered(service, meeting_id, 2)

    page = await service.client.get(theirs.path, params={"token": mine.token}, headers=BROWSER)
    posted = await service.client.post(
        theirs.cancel, data={"token": mine.token}, headers=FROM_THE_PAGE
    )

    assert (page.status_code, posted.status_code) == (403, 403)
    assert "delegate2@example.org" not in page.text + posted.text
    assert await status_of(service, theirs) == "confirmed"


async def test_a_form_without_its_token_is_refused(service: Service, plan: Plan) -> None:
    link = await registered(service, await scheduled(service, plan))

    answer = await service.client.post(link.cancel, data={"token": ""}, headers=FROM_THE_PAGE)

    assert answer.status_code == 403
    assert "This link is not valid" in answer.text
    assert await status_of(service, link) == "confirmed"


async def test_the_page_is_in_the_language_the_person_registered_with(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan), language="nl")

    page = (await service.client.get(link.url, headers=BROWSER)).text

    assert '<html lang="nl">' in page
    assert "Uw inschrijving is bevestigd." in page
    assert "dinsdag 28 november 2017, 11:00\u201316:00" in page
    assert "Midden-Europese standaardtijd" in page
    assert "Mijn inschrijving annuleren" in page


async def test_without_a_catalog_for_the_persons_language_the_browsers_language_is_used(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan), language="sv")

    german = await service.client.get(
        link.url, headers=BROWSER | {"Accept-Language": "sv-SE, de-AT;q=0.8, en;q=0.5"}
    )
    default = await service.client.get(link.url, headers={"Accept": "text/html"})

    assert '<html lang="de">' in german.text
    assert "Ihre Anmeldung ist bestätigt." in german.text
    assert '<html lang="en">' in default.text


async def test_a_tampered_links_page_is_in_the_browsers_language(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan), language="nl")

    page = await service.client.get(
        tampered(link), headers=BROWSER | {"Accept-Language": "fr-BE, fr;q=0.9"}
    )

    assert page.status_code == 403
    assert '<html lang="fr">' in page.text
    assert "Ce lien n\u2019est pas valide" in page.text


async def test_a_waitlisted_person_sees_their_place_and_may_leave_the_waitlist(
    service: Service, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan, capacity=1)
    await registered(service, meeting_id, 1)
    waiting = await registered(service, meeting_id, 2)

    page = (await service.client.get(waiting.url, headers=BROWSER)).text

    assert "You are number 1 on the waiting list." in page
    assert "Cancel my registration" in page


async def test_a_pending_request_is_shown_as_awaiting_the_secretariat(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan, requires_approval=True))

    page = (await service.client.get(link.url, headers=BROWSER)).text

    assert "Your registration request is awaiting the secretariat\u2019s decision." in page
    assert "Cancel my registration" in page


async def test_after_the_meeting_the_page_offers_no_button_and_a_form_is_refused(
    service: Service, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    link = await registered(service, meeting_id)
    held = await service.client.post(f"/meetings/{meeting_id}/hold", headers=service.secretariat)
    assert held.status_code == 200, held.text

    page = (await service.client.get(link.url, headers=BROWSER)).text
    posted = await cancel_from_the_page(service, link)

    assert "This meeting has taken place: your registration can no longer be cancelled." in page
    assert "<form" not in page
    assert posted.status_code == 409
    assert "Your registration can no longer be cancelled." in posted.text
    assert await status_of(service, link) == "confirmed"


async def test_the_json_cancellation_is_still_answered_in_json(
    service: Service, plan: Plan
) -> None:
    link = await registered(service, await scheduled(service, plan))

    answer = await service.client.post(
        link.cancel, params={"token": link.token}, json={"reason": "cannot travel"}
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["status"] == "cancelled"
    assert answer.json()["reason"] == "cannot travel"
