"""The directory's rules: addresses, ids, preferences, subscriptions, named organisations."""

from __future__ import annotations

import pytest

from services.notifications.domain import directory as d
from services.notifications.domain.directory import (
    Category,
    ContactId,
    DeliveryMode,
    EntityKind,
    EntityRef,
    Preferences,
    Subscription,
)
from services.notifications.seed import MEMBERS
from shared.errors import Invalid
from tests.unit.notifications import builders as b


def test_the_same_address_in_any_case_is_the_same_contact() -> None:
    one = d.new_contact("A", "Person@Berlin.Example.org ", secret=b.SECRET)
    two = d.new_contact("A", "person@berlin.example.org", secret=b.SECRET)

    assert one.id == two.id
    assert one.email == "person@berlin.example.org"


def test_the_address_key_depends_on_the_secret() -> None:
    assert d.email_key("a@example.org", secret="one") != d.email_key("a@example.org", secret="two")


def test_the_personal_category_cannot_be_switched_off() -> None:
    preferences = d.mute(Preferences(), frozenset(Category))

    assert Category.PERSONAL not in preferences.muted
    assert preferences.wants(Category.PERSONAL, transactional=True)


def test_switching_a_category_off_stops_only_optional_emails_of_it() -> None:
    preferences = d.mute(Preferences(), frozenset({Category.MINUTES}))

    assert not preferences.wants(Category.MINUTES, transactional=False)
    assert preferences.wants(Category.NEW_MEETINGS, transactional=False)
    assert preferences.wants(Category.MINUTES, transactional=True)


def test_preferences_change_only_what_is_given() -> None:
    before = Preferences(language="fr", muted=frozenset({Category.MINUTES}))

    after = d.set_preferences(before, delivery=DeliveryMode.DAILY_DIGEST)

    assert after == Preferences("fr", frozenset({Category.MINUTES}), DeliveryMode.DAILY_DIGEST)


@pytest.mark.parametrize(("tag", "language"), [("fr-BE", "fr"), ("DE", "de"), ("", "en")])
def test_language_tags_are_reduced_to_their_language(tag: str, language: str) -> None:
    assert d.normalise_language(tag) == language


def test_a_subscription_follows_one_entity_or_one_category() -> None:
    meeting = EntityRef(EntityKind.MEETING, "m-11")

    assert Subscription(ContactId("c-1"), entity=meeting).target == "meeting:m-11"
    assert Subscription(ContactId("c-1"), category=Category.MINUTES).target == "category:minutes"
    with pytest.raises(Invalid):
        Subscription(ContactId("c-1"))
    with pytest.raises(Invalid):
        Subscription(ContactId("c-1"), entity=meeting, category=Category.MINUTES)


def test_events_may_name_members_by_id_name_or_short_name() -> None:
    named = d.named_organisations(
        MEMBERS, ["City of Amsterdam", "DG HOME", "eurocities", "Nowhere"]
    )

    assert named == ["amsterdam", "eurocities", "dg-home"]


def test_the_seed_holds_the_partnerships_members_of_every_kind() -> None:
    kinds = {o.kind for o in MEMBERS}
    coordinators = {o.id for o in MEMBERS if o.coordinator}

    assert len(MEMBERS) == 21
    assert kinds == set(d.OrganisationKind)
    assert coordinators == {"amsterdam", "dg-home"}


def test_someone_known_from_a_registration_joins_the_directory_keeping_their_preferences() -> None:
    person = b.a_contact("p@athens.example.org", organisation=None, origin=d.ContactOrigin.EVENT)
    person = d.Contact(**{**person.__dict__, "preferences": Preferences(language="fr")})

    joined = d.join_directory(
        person,
        name="Partnership contact",
        organisation_id=d.OrganisationId("athens"),
        roles=frozenset({d.ContactRole.MEMBER_REPRESENTATIVE}),
    )

    assert joined.id == person.id
    assert joined.origin is d.ContactOrigin.DIRECTORY
    assert joined.preferences.language == "fr"
