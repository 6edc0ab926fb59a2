"""POST /api/v1/advanced-personalization/outcomes: the platform reports what came of a session (staff only)."""

import uuid
from decimal import Decimal

import numpy as np
import pytest

from marketplace.models import MatchOutcome
from marketplace.scoring import REGION_INDEX
from marketplace.vocabulary import FACTORS
from personalization import learning
from personalization.models import CustomerPersonalizationProfile, Interaction, OutcomeEvent, SessionOutcome
from tests.api_helpers import ORDER_CONTEXT, assert_domain_error, assert_field_error
from tests.concurrency import run_concurrently
from tests.conftest import token_client
from tests.factories import CustomerAccountFactory, ManufacturerFactory, OrderFactory, UserFactory

URL = "/api/v1/advanced-personalization/outcomes"
RECOMMEND_URL = "/api/v1/advanced-personalization/recommendations/personalized"
FEEDBACK_URL = "/api/v1/advanced-personalization/profile/update"


EMPTY_PATTERN = {"chosen": 0, "rejected": 0, "successes": 0, "failures": 0}


@pytest.fixture
def catalog(db):
    return {
        "cheap": ManufacturerFactory(cost_index=0.5, quality_score=0.5, on_time_delivery_rate=0.7),
        "premium": ManufacturerFactory(cost_index=2.0, quality_score=0.98, on_time_delivery_rate=0.99),
        "fast": ManufacturerFactory(cost_index=1.2, quality_score=0.7, avg_lead_time_days=2.0),
        "far": ManufacturerFactory(country="CN", region="east_asia", latitude=31.0, longitude=121.0),
        "balanced": ManufacturerFactory(cost_index=1.1, quality_score=0.8, on_time_delivery_rate=0.92),
    }


def recommend(client, body=None) -> dict:
    response = client.post(RECOMMEND_URL, body or {"order_context": ORDER_CONTEXT}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def choose(client, recommendation: dict, manufacturer_id: int, event_id: str = "choice-1") -> None:
    body = {
        "event_id": event_id,
        "session_id": recommendation["session_id"],
        "choice_data": {"chosen_manufacturer_id": manufacturer_id},
    }
    response = client.post(FEEDBACK_URL, body, format="json")
    assert response.status_code == 200, response.content


def report(client, session_id, manufacturer_id, event_id="out-1", **facts):
    body = {"event_id": event_id, "session_id": str(session_id), "manufacturer_id": manufacturer_id, **facts}
    return client.post(URL, body, format="json")


def profile_row(customer) -> dict:
    return CustomerPersonalizationProfile.objects.filter(customer=customer).values().get()


def without_write_stamps(row: dict) -> dict:
    """The row without what every write of it changes (its time and revision), written or not."""
    return {k: v for k, v in row.items() if k not in ("updated_at", "revision")}


def chosen_probability(recommendation: dict, mean: list[float], manufacturer_id: int) -> float:
    """The probability of `manufacturer_id` among the shown options under the utility weights `mean`."""
    items = sorted(recommendation["recommendations"], key=lambda item: item["rank"])
    features = np.array([[item["factor_values"][f] for f in FACTORS] for item in items])
    regions = np.array([REGION_INDEX[item["manufacturer"]["region"]] for item in items])
    options = learning.option_matrix(features, regions)
    offsets = learning.position_offsets(len(options), learning.DEFAULT_POSITION_BIAS)
    position = [item["manufacturer"]["id"] for item in items].index(manufacturer_id)
    return float(learning.choice_probabilities(np.array(mean), options, offsets)[position])


@pytest.fixture
def shown(api_client, catalog):
    """A session of `customer` in which it chose the balanced manufacturer."""
    recommendation = recommend(api_client)
    choose(api_client, recommendation, catalog["balanced"].id)
    return recommendation


@pytest.fixture
def maker(catalog):
    return catalog["balanced"].id


# --- conversion ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_conversion_with_contract_value_is_recorded_and_returned(staff_client, shown, maker):
    response = report(staff_client, shown["session_id"], maker, converted=True, contract_value="15000.00")

    assert response.status_code == 200, response.json()
    body = response.json()
    update = body.pop("update")
    assert body == {
        "event_id": "out-1",
        "duplicate": False,
        "session_id": shown["session_id"],
        "manufacturer_id": maker,
        "converted": True,
        "contract_value": 15000.0,
        "satisfaction": None,
        "delivered_on_time": None,
    }
    assert set(update) == {"reward", "reinforcement", "step_norm", "weights_after"}
    assert update["reward"] == 0.8  # 0.6 for the contract, half of the rating's 0.3 and delivery's 0.1 while unknown
    assert update["reinforcement"] == 0.06  # twice 0.1 x (0.8 - a neutral 0.5)
    assert 0 < update["step_norm"] <= learning.MAX_STEP_NORM
    outcome = SessionOutcome.objects.get()
    assert str(outcome.session_id) == shown["session_id"]
    assert outcome.manufacturer_id == maker
    assert outcome.converted is True
    assert outcome.contract_value == Decimal("15000.00")
    assert outcome.converted_at is not None
    event = OutcomeEvent.objects.get()
    assert event.event_id == "out-1"
    assert event.update_summary == update
    assert event.payload == {
        "manufacturer_id": maker,
        "converted": True,
        "contract_value": "15000.00",
        "satisfaction": None,
        "delivered_on_time": None,
    }


@pytest.mark.django_db
def test_conversion_updates_conversion_rate_matches_strategy_performance_and_patterns(
    staff_client, customer, shown, maker
):
    before = profile_row(customer)

    response = report(staff_client, shown["session_id"], maker, converted=True, contract_value="15000")

    assert response.status_code == 200, response.json()
    after = profile_row(customer)
    assert after["outcomes_count"] == before["outcomes_count"] + 1 == 1
    assert after["conversions_count"] == 1
    assert after["conversion_rate"] == 1.0
    assert after["successful_matches"] == before["successful_matches"] + 1 == 1
    algorithm = shown["personalization_metadata"]["algorithm_used"]
    assert after["strategy_performance"] == {algorithm: {"sessions": 1, "conversions": 1}}
    patterns = after["behavior_patterns"]
    assert patterns["manufacturers"][str(maker)] == {**EMPTY_PATTERN, "chosen": 1, "successes": 1}
    assert patterns["regions"]["western_europe"] == {**EMPTY_PATTERN, "chosen": 1, "successes": 1}
    assert patterns["processes"]["cnc_machining"] == {**EMPTY_PATTERN, "chosen": 1, "successes": 1}
    assert after["average_satisfaction"] is None
    assert after["ratings_count"] == 0


@pytest.mark.django_db
def test_conversion_reinforces_the_converted_choice(staff_client, customer, shown, maker):
    before = profile_row(customer)

    response = report(staff_client, shown["session_id"], maker, converted=True, contract_value="15000")

    assert response.status_code == 200, response.json()
    after = profile_row(customer)
    assert after["weights_version"] == before["weights_version"] + 1
    assert after["personal_weights"] == response.json()["update"]["weights_after"]
    assert after["personal_weights"] != before["personal_weights"]
    mean_before, mean_after = before["preference_state"]["mean"], after["preference_state"]["mean"]
    assert chosen_probability(shown, mean_after, maker) > chosen_probability(shown, mean_before, maker)
    # a reinforcement moves the belief's mean; it is no new evidence, so its precision and the confidence stay
    assert after["preference_state"]["precision_upper"] == before["preference_state"]["precision_upper"]
    assert after["personal_confidence"] == before["personal_confidence"]
    assert after["total_choices"] == before["total_choices"]


@pytest.mark.django_db
def test_lost_contract_weakens_the_choice_and_counts_as_a_failure(staff_client, customer, shown, maker):
    before = profile_row(customer)

    response = report(staff_client, shown["session_id"], maker, converted=False)

    assert response.status_code == 200, response.json()
    assert response.json()["converted"] is False
    assert response.json()["contract_value"] is None
    assert response.json()["update"]["reward"] == 0.0
    assert response.json()["update"]["reinforcement"] == -0.1
    after = profile_row(customer)
    assert after["outcomes_count"] == 1
    assert after["conversions_count"] == 0
    assert after["conversion_rate"] == 0.0
    assert after["successful_matches"] == 0
    algorithm = shown["personalization_metadata"]["algorithm_used"]
    assert after["strategy_performance"] == {algorithm: {"sessions": 1, "conversions": 0}}
    assert after["behavior_patterns"]["manufacturers"][str(maker)] == {**EMPTY_PATTERN, "chosen": 1, "failures": 1}
    assert after["weights_version"] == before["weights_version"] + 1
    mean_before, mean_after = before["preference_state"]["mean"], after["preference_state"]["mean"]
    assert chosen_probability(shown, mean_after, maker) < chosen_probability(shown, mean_before, maker)
    assert SessionOutcome.objects.get().converted_at is None


@pytest.mark.django_db
def test_conversion_rate_is_over_all_sessions_with_a_known_conversion(staff_client, api_client, customer, catalog):
    won, lost, unknown = recommend(api_client), recommend(api_client), recommend(api_client)

    assert (
        report(
            staff_client, won["session_id"], catalog["fast"].id, "out-1", converted=True, contract_value=9
        ).status_code
        == 200
    )
    assert report(staff_client, lost["session_id"], catalog["cheap"].id, "out-2", converted=False).status_code == 200

    profile = profile_row(customer)
    assert profile["outcomes_count"] == 2
    assert profile["conversions_count"] == 1
    assert profile["conversion_rate"] == 0.5
    assert profile["successful_matches"] == 1
    assert not SessionOutcome.objects.filter(session_id=unknown["session_id"]).exists()


# --- satisfaction and delivery ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_later_rating_and_delivery_add_satisfaction_without_recounting_the_conversion(
    staff_client, customer, shown, maker
):
    assert (
        report(staff_client, shown["session_id"], maker, "out-1", converted=True, contract_value="15000").status_code
        == 200
    )
    converted = profile_row(customer)

    response = report(staff_client, shown["session_id"], maker, "out-2", satisfaction=5, delivered_on_time=True)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["converted"] is True
    assert body["contract_value"] == 15000.0
    assert body["satisfaction"] == 5
    assert body["delivered_on_time"] is True
    assert body["update"]["reward"] == 1.0
    assert body["update"]["reinforcement"] == 0.04  # twice 0.1 x the change since the conversion: 1.0 - 0.8
    after = profile_row(customer)
    assert after["average_satisfaction"] == 5.0
    assert after["recent_satisfaction"] == [5.0]
    assert after["ratings_count"] == 1
    assert after["weights_version"] == converted["weights_version"] + 1
    for counter in ("outcomes_count", "conversions_count", "conversion_rate", "successful_matches"):
        assert after[counter] == converted[counter], counter
    assert after["strategy_performance"] == converted["strategy_performance"]
    outcome = SessionOutcome.objects.get()
    assert (outcome.satisfaction, outcome.delivered_on_time) == (5, True)


@pytest.mark.django_db
def test_ratings_of_several_sessions_average_and_a_poor_one_is_a_failure(staff_client, api_client, customer, catalog):
    first, second = recommend(api_client), recommend(api_client)
    good, poor = catalog["premium"].id, catalog["cheap"].id

    assert (
        report(
            staff_client, first["session_id"], good, "out-1", converted=True, contract_value=10, satisfaction=5
        ).status_code
        == 200
    )
    response = report(staff_client, second["session_id"], poor, "out-2", converted=True, contract_value=10)
    assert response.status_code == 200, response.json()
    assert (
        report(staff_client, second["session_id"], poor, "out-3", satisfaction=2, delivered_on_time=False).status_code
        == 200
    )

    profile = profile_row(customer)
    assert profile["average_satisfaction"] == 3.5
    assert profile["recent_satisfaction"] == [5.0, 2.0]
    assert profile["ratings_count"] == 2
    patterns = profile["behavior_patterns"]["manufacturers"]
    assert patterns[str(good)] == {**EMPTY_PATTERN, "successes": 1}
    assert patterns[str(poor)] == {**EMPTY_PATTERN, "successes": 1, "failures": 1}


@pytest.mark.django_db
def test_a_session_with_an_order_mirrors_its_outcome_to_the_marketplace(staff_client, api_client, customer, catalog):
    order = OrderFactory(customer=customer, complexity_level="complex", estimated_value=12000)
    shown = recommend(api_client, {"order_id": order.id})
    maker = catalog["fast"].id

    converted = report(staff_client, shown["session_id"], maker, "out-1", converted=True, contract_value="11500.50")

    assert converted.status_code == 200, converted.json()
    match = MatchOutcome.objects.get(order=order)
    assert match.manufacturer_id == maker
    assert match.converted is True
    assert match.contract_value == Decimal("11500.50")
    assert match.satisfaction is None
    assert match.delivered_on_time is None
    assert match.time_to_match.total_seconds() >= 0

    rated = report(staff_client, shown["session_id"], maker, "out-2", satisfaction=4, delivered_on_time=True)

    assert rated.status_code == 200, rated.json()
    match = MatchOutcome.objects.get(order=order)
    assert (match.converted, match.contract_value, match.satisfaction, match.delivered_on_time) == (
        True,
        Decimal("11500.50"),
        4,
        True,
    )
    assert MatchOutcome.objects.count() == 1


@pytest.mark.django_db
def test_a_lost_contract_of_an_order_is_mirrored_as_not_converted(staff_client, api_client, customer, catalog):
    order = OrderFactory(customer=customer)
    shown = recommend(api_client, {"order_id": order.id})

    assert report(staff_client, shown["session_id"], catalog["cheap"].id, converted=False).status_code == 200

    match = MatchOutcome.objects.get(order=order)
    assert (match.converted, match.contract_value, match.satisfaction) == (False, None, None)


@pytest.mark.django_db
def test_a_session_without_an_order_writes_no_marketplace_outcome(staff_client, shown, maker):
    assert report(staff_client, shown["session_id"], maker, converted=True, contract_value=100).status_code == 200

    assert not MatchOutcome.objects.exists()


# --- idempotency -----------------------------------------------------------------------------------------------


@pytest.fixture
def state(customer):
    """Everything an outcome may write, to compare before and after a request."""

    def snapshot() -> dict:
        return {
            "profile": profile_row(customer),
            "outcomes": list(SessionOutcome.objects.values()),
            "events": list(OutcomeEvent.objects.order_by("id").values()),
            "matches": list(MatchOutcome.objects.values()),
        }

    return snapshot


@pytest.mark.django_db
def test_repeated_event_id_returns_the_first_result_marked_duplicate_and_changes_nothing(
    staff_client, customer, api_client, catalog, state
):
    order = OrderFactory(customer=customer)
    shown = recommend(api_client, {"order_id": order.id})
    maker = catalog["premium"].id
    first = report(staff_client, shown["session_id"], maker, converted=True, contract_value="2500", satisfaction=4)
    assert first.status_code == 200, first.json()
    applied = state()

    repeat = report(staff_client, shown["session_id"], maker, converted=True, contract_value="2500", satisfaction=4)

    assert repeat.status_code == 200, repeat.json()
    assert repeat.json() == {**first.json(), "duplicate": True}
    assert state() == applied
    assert applied["profile"]["conversions_count"] == 1
    assert applied["profile"]["ratings_count"] == 1


@pytest.mark.django_db
def test_repeated_event_id_with_a_different_body_changes_nothing(staff_client, shown, maker, state):
    first = report(staff_client, shown["session_id"], maker, converted=True, contract_value="2500")
    assert first.status_code == 200, first.json()
    applied = state()

    repeat = report(staff_client, shown["session_id"], maker, satisfaction=1, delivered_on_time=False)

    assert repeat.status_code == 200, repeat.json()
    assert repeat.json() == {**first.json(), "duplicate": True}
    assert state() == applied


@pytest.mark.django_db
def test_restating_a_known_fact_under_a_new_event_id_counts_nothing_again(staff_client, customer, shown, maker):
    assert (
        report(staff_client, shown["session_id"], maker, "out-1", converted=True, contract_value="2500").status_code
        == 200
    )
    applied = profile_row(customer)

    restated = report(staff_client, shown["session_id"], maker, "out-2", converted=True, contract_value="2500.00")

    assert restated.status_code == 200, restated.json()
    assert restated.json()["duplicate"] is False
    assert restated.json()["update"] == {}
    assert without_write_stamps(profile_row(customer)) == without_write_stamps(applied)
    assert OutcomeEvent.objects.count() == 2


# --- bad input: nothing is half-written ------------------------------------------------------------------------


@pytest.fixture
def unchanged(shown, state):
    before = state()
    yield
    assert state() == before


@pytest.fixture
def converted(staff_client, shown, maker):
    response = report(staff_client, shown["session_id"], maker, "out-0", converted=True, contract_value="15000")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.django_db
def test_restatement_that_differs_is_refused_naming_the_field(staff_client, shown, maker, converted, state):
    before = state()

    response = report(staff_client, shown["session_id"], maker, "out-1", converted=False)

    assert_domain_error(response, "converted", "converted was already reported as True.")
    assert state() == before


@pytest.mark.django_db
def test_a_different_contract_value_for_a_known_conversion_is_refused(staff_client, shown, maker, converted, state):
    before = state()

    response = report(staff_client, shown["session_id"], maker, "out-1", converted=True, contract_value="14000")

    assert_domain_error(response, "contract_value", "contract_value was already reported as 15000.00.")
    assert state() == before


@pytest.mark.django_db
def test_a_different_rating_for_a_rated_session_is_refused(staff_client, customer, shown, maker, converted, state):
    assert report(staff_client, shown["session_id"], maker, "out-1", satisfaction=5).status_code == 200
    before = state()

    response = report(staff_client, shown["session_id"], maker, "out-2", satisfaction=3)

    assert_domain_error(response, "satisfaction", "satisfaction was already reported as 5.")
    assert state() == before
    assert profile_row(customer)["recent_satisfaction"] == [5.0]


@pytest.mark.django_db
def test_satisfaction_before_the_conversion_is_refused(staff_client, shown, maker, unchanged):
    response = report(staff_client, shown["session_id"], maker, satisfaction=5, delivered_on_time=True)

    assert_domain_error(response, "converted", "Report the conversion before the value, rating or delivery.")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "facts",
    [{"contract_value": "100"}, {"satisfaction": 3}, {"delivered_on_time": False}],
    ids=["value", "rating", "delivery"],
)
def test_a_lost_contract_with_a_value_rating_or_delivery_is_refused(staff_client, shown, maker, unchanged, facts):
    response = report(staff_client, shown["session_id"], maker, converted=False, **facts)

    assert_domain_error(response, "converted", "A lost contract has no value, rating or delivery.")


@pytest.mark.django_db
def test_a_rating_after_a_lost_contract_is_refused(staff_client, shown, maker, state):
    assert report(staff_client, shown["session_id"], maker, "out-1", converted=False).status_code == 200
    before = state()

    response = report(staff_client, shown["session_id"], maker, "out-2", satisfaction=4)

    assert_domain_error(response, "converted", "A lost contract has no value, rating or delivery.")
    assert state() == before


@pytest.mark.django_db
def test_conversion_without_contract_value_is_refused_naming_contract_value(staff_client, shown, maker, unchanged):
    response = report(staff_client, shown["session_id"], maker, converted=True)

    assert_domain_error(response, "contract_value", "A conversion is reported with its contract value.")


@pytest.mark.django_db
def test_report_without_any_fact_is_refused(staff_client, shown, maker, unchanged):
    response = report(staff_client, shown["session_id"], maker, converted=None)

    assert_domain_error(
        response, "converted", "Report at least one of converted, contract_value, satisfaction, delivered_on_time."
    )


@pytest.mark.django_db
def test_manufacturer_not_shown_in_the_session_is_refused(staff_client, shown, unchanged):
    stranger = ManufacturerFactory(processes=["casting"])

    response = report(staff_client, shown["session_id"], stranger.id, converted=True, contract_value="100")

    assert_domain_error(response, "manufacturer_id", "The manufacturer was not shown in this session.")


@pytest.mark.django_db
def test_a_different_manufacturer_than_the_sessions_earlier_outcome_is_refused(
    staff_client, shown, maker, converted, catalog, state
):
    before = state()

    response = report(staff_client, shown["session_id"], catalog["premium"].id, "out-1", satisfaction=4)

    assert_domain_error(response, "manufacturer_id", f"This session's outcome is with manufacturer {maker}.")
    assert state() == before


@pytest.mark.django_db
def test_the_same_event_id_for_another_session_is_refused(staff_client, api_client, shown, maker, converted, state):
    other = recommend(api_client)
    before = state()

    response = report(staff_client, other["session_id"], maker, "out-0", converted=False)

    assert_domain_error(response, "event_id", "This event id was used for another session.")
    assert state() == before


@pytest.mark.django_db
def test_unknown_session_is_a_404(staff_client, maker, unchanged):
    response = report(staff_client, uuid.uuid4(), maker, converted=True, contract_value="100")

    assert response.status_code == 404
    assert response.json() == {"message": "No such session.", "extra": {}}


INVALID_FACTS = [
    ("satisfaction-zero", {"converted": True, "contract_value": "1", "satisfaction": 0}, "satisfaction"),
    ("satisfaction-six", {"converted": True, "contract_value": "1", "satisfaction": 6}, "satisfaction"),
    ("satisfaction-fraction", {"converted": True, "contract_value": "1", "satisfaction": 4.5}, "satisfaction"),
    ("satisfaction-bool", {"converted": True, "contract_value": "1", "satisfaction": True}, "satisfaction"),
    ("satisfaction-string", {"converted": True, "contract_value": "1", "satisfaction": "5"}, "satisfaction"),
    ("value-zero", {"converted": True, "contract_value": 0}, "contract_value"),
    ("value-negative", {"converted": True, "contract_value": "-100"}, "contract_value"),
    ("value-nan", {"converted": True, "contract_value": "NaN"}, "contract_value"),
    ("value-infinity", {"converted": True, "contract_value": "Infinity"}, "contract_value"),
    ("value-text", {"converted": True, "contract_value": "a lot"}, "contract_value"),
    ("value-bool", {"converted": True, "contract_value": True}, "contract_value"),
    ("value-too-many-digits", {"converted": True, "contract_value": "1000000000000.00"}, "contract_value"),
    ("value-sub-cent", {"converted": True, "contract_value": "10.001"}, "contract_value"),
    ("converted-not-bool", {"converted": "maybe"}, "converted"),
    ("converted-a-number", {"converted": 2}, "converted"),
    (
        "delivered-not-bool",
        {"converted": True, "contract_value": "1", "delivered_on_time": "late"},
        "delivered_on_time",
    ),
    ("unknown-field", {"converted": True, "contract_value": "1", "rating": 5}, "rating"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("facts", "field"), [(b, f) for _, b, f in INVALID_FACTS], ids=[i for i, _, _ in INVALID_FACTS]
)
def test_invalid_value_is_refused_naming_the_field(staff_client, shown, maker, unchanged, facts, field):
    response = report(staff_client, shown["session_id"], maker, **facts)

    assert_field_error(response, field)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("manufacturer_id", "message"),
    [
        ("string", "A valid integer is required."),
        (True, "A valid integer is required."),
        (0, "Ensure this value is greater than or equal to 1."),
        (2**63, "Ensure this value is less than or equal to 9223372036854775807."),
        (None, "This field may not be null."),
    ],
    ids=["text", "bool", "zero", "over-bigint", "null"],
)
def test_invalid_manufacturer_id_is_refused(staff_client, shown, unchanged, manufacturer_id, message):
    response = report(staff_client, shown["session_id"], manufacturer_id, converted=False)

    assert assert_field_error(response, "manufacturer_id") == [message]


@pytest.mark.django_db
def test_a_shown_manufacturer_id_given_as_a_numeric_string_is_refused(staff_client, shown, maker, unchanged):
    response = report(staff_client, shown["session_id"], str(maker), converted=False)

    assert assert_field_error(response, "manufacturer_id") == ["A valid integer is required."]


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["event_id", "session_id", "manufacturer_id"])
def test_missing_required_field_is_refused(staff_client, shown, maker, unchanged, missing):
    body = {"event_id": "out-1", "session_id": shown["session_id"], "manufacturer_id": maker, "converted": False}
    del body[missing]

    response = staff_client.post(URL, body, format="json")

    assert assert_field_error(response, missing) == ["This field is required."]


@pytest.mark.django_db
@pytest.mark.parametrize("event_id", ["", "out 1", ".out", "x" * 101, "out\u0000", " out-1"])
def test_malformed_event_id_is_refused(staff_client, shown, maker, unchanged, event_id):
    response = report(staff_client, shown["session_id"], maker, event_id, converted=False)

    assert_field_error(response, "event_id")


@pytest.mark.django_db
@pytest.mark.parametrize("session_id", ["not-a-uuid", 7, None])
def test_malformed_session_id_is_refused(staff_client, maker, shown, unchanged, session_id):
    body = {"event_id": "out-1", "session_id": session_id, "manufacturer_id": maker, "converted": False}

    response = staff_client.post(URL, body, format="json")

    assert_field_error(response, "session_id")


# --- access ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_customer_cannot_report_outcomes_even_of_its_own_session(api_client, shown, maker, unchanged):
    response = report(api_client, shown["session_id"], maker, converted=True, contract_value="100")

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may do this.", "extra": {}}


@pytest.mark.django_db
def test_a_user_without_staff_rights_is_forbidden(shown, maker, unchanged):
    response = report(token_client(UserFactory()), shown["session_id"], maker, converted=False)

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may do this.", "extra": {}}


@pytest.mark.django_db
def test_anonymous_caller_is_told_to_authenticate(anonymous_client, shown, maker, unchanged):
    response = report(anonymous_client, shown["session_id"], maker, converted=False)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_copies_of_one_outcome_event_apply_once(catalog):
    customer = CustomerAccountFactory()
    shown = recommend(token_client(customer.user))
    staff = UserFactory(is_staff=True)
    maker = catalog["fast"].id

    def post():
        response = report(token_client(staff), shown["session_id"], maker, "out-1", converted=True, contract_value=50)
        return response.status_code, response.json()

    results = run_concurrently([post] * 16)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert [status for status, _ in results] == [200] * 16, results
    assert sorted(body["duplicate"] for _, body in results) == [False] + [True] * 15
    assert OutcomeEvent.objects.count() == 1
    profile = profile_row(customer)
    assert (profile["outcomes_count"], profile["conversions_count"], profile["successful_matches"]) == (1, 1, 1)
    assert profile["weights_version"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_outcomes_and_choices_of_one_customer_all_count(catalog):
    """Outcomes lock the profile and rewrite its whole row; choices write only if the row is unchanged since
    their read (else they read again). Run at once, neither may lose what the other learnt."""
    customer = CustomerAccountFactory()
    client = token_client(customer.user)
    maker = catalog["fast"].id
    chosen = [recommend(client) for _ in range(8)]
    for n, shown in enumerate(chosen):
        choose(client, shown, maker, f"choice-{n}")
    fresh = [recommend(client) for _ in range(8)]
    staff = UserFactory(is_staff=True)

    def outcome(n):
        def call():
            session_id = chosen[n]["session_id"]
            return report(
                token_client(staff), session_id, maker, f"out-{n}", converted=True, contract_value=90
            ).status_code

        return call

    def choice(n):
        def call():
            body = {
                "event_id": f"choice-{8 + n}",
                "session_id": fresh[n]["session_id"],
                "choice_data": {"chosen_manufacturer_id": maker},
            }
            return token_client(customer.user).post(FEEDBACK_URL, body, format="json").status_code

        return call

    results = run_concurrently([outcome(n) for n in range(8)] + [choice(n) for n in range(8)])

    assert results == [200] * 16, results
    profile = profile_row(customer)
    assert (profile["total_choices"], profile["outcomes_count"], profile["conversions_count"]) == (16, 8, 8)
    assert profile["behavior_patterns"]["manufacturers"][str(maker)] == {**EMPTY_PATTERN, "chosen": 16, "successes": 8}
    assert profile["weights_version"] == 16 + 8  # every choice, and every conversion's reinforcement
    assert Interaction.objects.filter(customer=customer).count() == 16


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_event_id_sent_concurrently_for_sessions_of_different_customers_applies_once(catalog):
    customers = [CustomerAccountFactory() for _ in range(8)]
    sessions = [recommend(token_client(customer.user)) for customer in customers]
    staff = UserFactory(is_staff=True)
    maker = catalog["fast"].id

    def post(session):
        def call():
            response = report(token_client(staff), session["session_id"], maker, "shared", converted=False)
            return response.status_code, response.json()

        return call

    results = run_concurrently([post(session) for session in sessions])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(status for status, _ in results) == [200] + [400] * 7, results
    for status, body in results:
        if status == 400:
            assert body["extra"] == {"fields": {"event_id": ["This event id was used for another session."]}}
    assert OutcomeEvent.objects.count() == 1
    assert SessionOutcome.objects.count() == 1
    assert sum(profile_row(customer)["outcomes_count"] for customer in customers) == 1


@pytest.mark.django_db
def test_an_outcome_with_another_manufacturer_than_the_customer_chose_is_refused(staff_client, shown, catalog, state):
    before = state()

    response = report(staff_client, shown["session_id"], catalog["premium"].id, converted=True, contract_value="900")

    assert_domain_error(
        response, "manufacturer_id", f"The customer chose manufacturer {catalog['balanced'].id} in this session."
    )
    assert state() == before
