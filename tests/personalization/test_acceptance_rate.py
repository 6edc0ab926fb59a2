"""The recommendation acceptance rate: sessions with a choice over all sessions. Feedback does not keep it (that
cost a count of the customer's sessions on every choice); the readable profile computes it when read, and a
periodic task stores it on every profile."""

import pytest

from personalization.models import CustomerPersonalizationProfile
from personalization.selectors import acceptance_rate
from personalization.services import (
    profile_apply_feedback,
    profile_get_or_create,
    profile_rebuild,
    profiles_acceptance_rate_refresh,
    recommendation_create,
)
from personalization.tasks import acceptance_rates_refresh_task
from tests.api_helpers import ORDER
from tests.conftest import token_client
from tests.factories import CustomerAccountFactory, ManufacturerFactory

PROFILE_URL = "/api/v1/advanced-personalization/profile/personal"


@pytest.fixture
def catalog(db):
    return ManufacturerFactory.create_batch(3)


def _sessions_with_choices(customer, *, sessions: int, choices: int) -> None:
    for index in range(sessions):
        result = recommendation_create(customer=customer, order_context=ORDER)
        if index < choices:
            profile_apply_feedback(
                customer=customer,
                session=result.session,
                event_id=f"choice-{index}",
                interaction_data={},
                choice_data={"chosen_manufacturer_id": result.items[0].manufacturer_id},
            )


def _stored(customer) -> float:
    return CustomerPersonalizationProfile.objects.get(customer=customer).recommendation_acceptance_rate


def _read(customer) -> float:
    response = token_client(customer.user).get(PROFILE_URL)
    assert response.status_code == 200, response.content
    return response.json()["performance"]["recommendation_acceptance_rate"]


@pytest.mark.parametrize(
    ("choices", "sessions", "rate"), [(0, 0, 0.0), (0, 4, 0.0), (1, 3, 1 / 3), (3, 3, 1.0), (2, 1, 1.0)]
)
def test_acceptance_rate_is_choices_over_sessions_and_at_most_one(choices, sessions, rate):
    assert acceptance_rate(choices=choices, sessions=sessions) == rate


@pytest.mark.django_db
def test_the_readable_profile_counts_the_sessions_that_got_no_choice(catalog):
    """Read after three sessions and one choice, and again after two more sessions without one: the rate falls
    as the customer stops choosing, which a rate kept by the choices could not show."""
    customer = CustomerAccountFactory()
    _sessions_with_choices(customer, sessions=3, choices=1)
    assert _read(customer) == pytest.approx(1 / 3)

    _sessions_with_choices(customer, sessions=2, choices=0)

    assert _read(customer) == pytest.approx(1 / 5)


@pytest.mark.django_db
def test_a_choice_leaves_the_stored_acceptance_rate_to_its_refresh(catalog):
    customer = CustomerAccountFactory()
    _sessions_with_choices(customer, sessions=2, choices=1)

    assert _stored(customer) == 0.0
    assert profiles_acceptance_rate_refresh() == 1
    assert _stored(customer) == 0.5


@pytest.mark.django_db
def test_the_refresh_stores_what_the_readable_profile_shows_and_writes_only_the_rates_that_changed(catalog):
    busy, idle, choosy = CustomerAccountFactory(), CustomerAccountFactory(), CustomerAccountFactory()
    _sessions_with_choices(busy, sessions=3, choices=2)
    _sessions_with_choices(choosy, sessions=2, choices=2)
    profile_get_or_create(customer=idle)  # a profile and no session yet
    other_before = CustomerPersonalizationProfile.objects.filter(customer=choosy).values().get()

    assert profiles_acceptance_rate_refresh(customer_ids=[busy.pk, idle.pk]) == 1  # idle's 0.0 is unchanged

    assert (_stored(busy), _stored(idle), _stored(choosy)) == (_read(busy), 0.0, 0.0)
    assert _stored(busy) == pytest.approx(2 / 3)
    assert CustomerPersonalizationProfile.objects.filter(customer=choosy).values().get() == other_before

    assert acceptance_rates_refresh_task.delay().get() == 1  # the periodic task: every profile, choosy's now
    assert _stored(choosy) == _read(choosy) == 1.0
    assert profiles_acceptance_rate_refresh() == 0  # nothing changed since: nothing written


@pytest.mark.django_db
def test_a_rebuilt_profile_stores_its_acceptance_rate(catalog):
    customer = CustomerAccountFactory()
    _sessions_with_choices(customer, sessions=3, choices=2)
    assert _stored(customer) == 0.0

    profile_rebuild(customer=customer)

    assert _stored(customer) == _read(customer) == pytest.approx(2 / 3)
