"""POST /api/v1/advanced-personalization/profile/update: feedback on a session teaches the customer's profile."""

import itertools
import json
import math
import uuid

import numpy as np
import pytest
from django.db import IntegrityError

from marketplace.scoring import REGION_INDEX
from marketplace.vocabulary import FACTORS
from personalization import learning
from personalization.api.serializers import ProfileUpdateResponseSerializer, profile_update_response_data
from personalization.models import (
    CustomerPersonalizationProfile,
    ExplanationPreference,
    Interaction,
    RecommendationSession,
)
from personalization.services import profile_apply_feedback, recommendation_create
from personalization.services.profiles import (
    EVOLUTION_SNAPSHOTS,
    FEEDBACK_PROFILE_FIELDS,
    FEEDBACK_SESSION_FIELDS,
    MANUFACTURER_PATTERNS,
    OPTIMISTIC_ATTEMPTS,
    _feedback_apply,
    _optimistically,
    _ProfileChanged,
    manufacturer_patterns_bound,
    risk_adjusted_step,
    session_with_profile,
)
from tests.api_helpers import ORDER, ORDER_CONTEXT, assert_domain_error, assert_field_error
from tests.concurrency import run_concurrently
from tests.conftest import token_client
from tests.factories import CustomerAccountFactory, ManufacturerFactory, UserFactory

URL = "/api/v1/advanced-personalization/profile/update"
RECOMMEND_URL = "/api/v1/advanced-personalization/recommendations/personalized"


@pytest.fixture
def catalog(db):
    """Five capable manufacturers: the cheapest is also the least reliable, the premium one the most."""
    return {
        "cheap": ManufacturerFactory(cost_index=0.5, quality_score=0.5, on_time_delivery_rate=0.7),
        "premium": ManufacturerFactory(cost_index=2.0, quality_score=0.98, on_time_delivery_rate=0.99),
        "fast": ManufacturerFactory(cost_index=1.2, quality_score=0.7, avg_lead_time_days=2.0),
        "far": ManufacturerFactory(country="CN", region="east_asia", latitude=31.0, longitude=121.0),
        "balanced": ManufacturerFactory(cost_index=1.1, quality_score=0.8, on_time_delivery_rate=0.92),
    }


def recommend(client, **context) -> dict:
    response = client.post(RECOMMEND_URL, {"order_context": {**ORDER_CONTEXT, **context}}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def shown_ids(recommendation: dict) -> list[int]:
    """The manufacturer ids of a recommendation, best first."""
    return [item["manufacturer"]["id"] for item in recommendation["recommendations"]]


def rank_of(recommendation: dict, manufacturer_id: int) -> int:
    return shown_ids(recommendation).index(manufacturer_id) + 1


def feedback(client, session_id, event_id="evt-1", *, interaction_data=None, choice_data=None, **extra):
    body = {"event_id": event_id, "session_id": str(session_id), **extra}
    if interaction_data is not None:
        body["interaction_data"] = interaction_data
    if choice_data is not None:
        body["choice_data"] = choice_data
    return client.post(URL, body, format="json")


def choose(client, recommendation: dict, manufacturer_id: int, event_id="evt-1", **choice):
    return feedback(
        client,
        recommendation["session_id"],
        event_id,
        choice_data={"chosen_manufacturer_id": manufacturer_id, **choice},
    )


def profile_row(customer) -> dict:
    """Every column of the customer's profile, to compare before and after a request."""
    return CustomerPersonalizationProfile.objects.filter(customer=customer).values().get()


# --- a choice teaches the profile ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_choice_is_applied_and_the_response_reports_the_new_weights(api_client, customer, catalog):
    shown = recommend(api_client)
    before = profile_row(customer)

    response = choose(api_client, shown, catalog["cheap"].id, chosen_rank=rank_of(shown, catalog["cheap"].id))

    assert response.status_code == 200, response.json()
    body = response.json()
    after = profile_row(customer)
    assert set(body) == {
        "event_id",
        "duplicate",
        "session_id",
        "weights_version",
        "personal_weights",
        "personal_confidence",
        "learning_velocity",
        "update",
    }
    assert body["event_id"] == "evt-1"
    assert body["duplicate"] is False
    assert body["session_id"] == shown["session_id"]
    assert body["weights_version"] == before["weights_version"] + 1 == after["weights_version"] == 1
    assert body["personal_weights"] == after["personal_weights"]
    assert list(body["personal_weights"]) == list(FACTORS)
    assert body["personal_confidence"] == after["personal_confidence"]
    assert body["learning_velocity"] == after["learning_velocity"]
    assert set(body["update"]) == {
        "weights_before",
        "weights_after",
        "step_norm",
        "clipped",
        "chosen_probability",
        "confidence",
    }
    assert body["update"]["weights_before"] == before["personal_weights"]
    assert body["update"]["weights_after"] == after["personal_weights"]
    assert body["update"]["confidence"] == after["personal_confidence"]
    assert 0 < body["update"]["step_norm"] <= learning.MAX_STEP_NORM
    assert 0 < body["update"]["chosen_probability"] < 1


@pytest.mark.django_db
def test_choice_moves_the_weights_toward_what_the_chosen_option_is_good_at(api_client, customer, catalog):
    shown = recommend(api_client)
    before = profile_row(customer)

    response = choose(api_client, shown, catalog["cheap"].id)

    assert response.status_code == 200, response.json()
    weights_before, weights_after = before["personal_weights"], profile_row(customer)["personal_weights"]
    # the cheapest option is the best on cost and the worst on quality and reliability
    assert weights_after["cost_fit"] > weights_before["cost_fit"]
    assert weights_after["quality_fit"] < weights_before["quality_fit"]
    assert weights_after["reliability"] < weights_before["reliability"]
    assert sum(weights_after.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(value >= 0 for value in weights_after.values())
    assert profile_row(customer)["preference_state"]["mean"] != before["preference_state"]["mean"]


@pytest.mark.django_db
def test_chosen_option_is_more_likely_under_the_updated_belief_than_it_was(api_client, customer, catalog):
    shown = recommend(api_client)
    chosen = catalog["premium"].id

    response = choose(api_client, shown, chosen)

    assert response.status_code == 200, response.json()
    candidates = sorted(shown["recommendations"], key=lambda item: item["rank"])
    features = np.array([[item["factor_values"][f] for f in FACTORS] for item in candidates])
    regions = np.array([REGION_INDEX[item["manufacturer"]["region"]] for item in candidates])
    options = learning.option_matrix(features, regions)
    offsets = learning.position_offsets(len(options), learning.DEFAULT_POSITION_BIAS)
    mean_after = np.array(profile_row(customer)["preference_state"]["mean"])
    probability_after = learning.choice_probabilities(mean_after, options, offsets)[rank_of(shown, chosen) - 1]
    assert probability_after > response.json()["update"]["chosen_probability"]


@pytest.mark.django_db
def test_choice_raises_confidence_and_counts_the_choice_and_its_rank(api_client, customer, catalog):
    shown = recommend(api_client)
    rank = rank_of(shown, catalog["far"].id)

    response = choose(api_client, shown, catalog["far"].id)

    assert response.status_code == 200, response.json()
    profile = profile_row(customer)
    assert profile["personal_confidence"] > 0.0
    assert profile["total_interactions"] == 1
    assert profile["total_choices"] == 1
    assert profile["average_choice_rank"] == float(rank)
    assert profile["last_interaction_at"] is not None
    interaction = Interaction.objects.get()
    assert interaction.customer == customer
    assert str(interaction.session_id) == shown["session_id"]
    assert interaction.event_id == "evt-1"
    assert interaction.chosen_manufacturer_id == catalog["far"].id
    assert interaction.chosen_rank == rank
    assert interaction.update_summary == response.json()["update"]


@pytest.mark.django_db
def test_average_choice_rank_is_the_mean_over_all_choices(api_client, customer, catalog):
    first, second = recommend(api_client), recommend(api_client)
    first_rank, second_rank = rank_of(first, catalog["cheap"].id), rank_of(second, catalog["premium"].id)

    assert choose(api_client, first, catalog["cheap"].id, "evt-1").status_code == 200
    assert choose(api_client, second, catalog["premium"].id, "evt-2").status_code == 200

    profile = profile_row(customer)
    assert profile["total_choices"] == 2
    assert profile["average_choice_rank"] == pytest.approx((first_rank + second_rank) / 2, abs=1e-4)


@pytest.mark.django_db
def test_choosing_the_least_reliable_option_raises_risk_tolerance(api_client, customer, catalog):
    shown = recommend(api_client)  # complex order: comfort moves toward 2/3

    assert choose(api_client, shown, catalog["cheap"].id).status_code == 200

    profile = profile_row(customer)
    # four of the five options are more reliable than the cheapest; the first choice moves halfway
    assert profile["risk_tolerance"] == pytest.approx(0.5 + 0.5 * (4 / 5 - 0.5), abs=1e-6)
    assert profile["complexity_comfort_level"] == pytest.approx(0.5 + 0.5 * (2 / 3 - 0.5), abs=1e-6)


@pytest.mark.django_db
def test_choosing_the_most_reliable_option_on_a_simple_order_lowers_risk_tolerance_and_comfort(
    api_client, customer, catalog
):
    shown = recommend(api_client, complexity_level="simple")

    assert choose(api_client, shown, catalog["premium"].id).status_code == 200

    profile = profile_row(customer)
    assert profile["risk_tolerance"] == pytest.approx(0.25, abs=1e-6)
    assert profile["complexity_comfort_level"] == pytest.approx(0.25, abs=1e-6)


@pytest.mark.django_db
def test_each_choice_appends_a_preference_evolution_snapshot(api_client, customer, catalog):
    first, second = recommend(api_client), recommend(api_client)

    assert choose(api_client, first, catalog["cheap"].id, "evt-1").status_code == 200
    after_first = profile_row(customer)
    assert choose(api_client, second, catalog["cheap"].id, "evt-2").status_code == 200
    after_second = profile_row(customer)

    evolution = after_second["preference_evolution"]
    assert [snapshot["version"] for snapshot in evolution] == [1, 2]
    assert evolution[0] == after_first["preference_evolution"][0]
    assert evolution[0]["weights"] == after_first["personal_weights"]
    assert evolution[0]["confidence"] == after_first["personal_confidence"]
    assert evolution[1]["weights"] == after_second["personal_weights"]
    assert evolution[1]["confidence"] == after_second["personal_confidence"]
    assert set(evolution[1]) == {"at", "version", "weights", "confidence"}


@pytest.mark.django_db
def test_the_profile_keeps_the_last_snapshots_and_the_interactions_keep_every_one(api_client, customer, catalog):
    choices = EVOLUTION_SNAPSHOTS + 2
    for n in range(choices):
        assert choose(api_client, recommend(api_client), catalog["cheap"].id, f"evt-{n}").status_code == 200

    evolution = profile_row(customer)["preference_evolution"]
    assert [snapshot["version"] for snapshot in evolution] == list(range(3, choices + 1))
    logged = [i.update_summary for i in Interaction.objects.order_by("created_at", "id")]
    assert len(logged) == choices
    assert [s["weights_after"] for s in logged[2:]] == [snapshot["weights"] for snapshot in evolution]
    assert [s["weights_before"] for s in logged[1:]] == [s["weights_after"] for s in logged[:-1]]


@pytest.mark.django_db
def test_choice_records_behaviour_patterns_of_chosen_and_rejected_manufacturers(api_client, customer, catalog):
    shown = recommend(api_client)
    rejected = [catalog["premium"].id, catalog["fast"].id]

    response = choose(api_client, shown, catalog["far"].id, rejected_manufacturer_ids=rejected, feedback="Cheap.")

    assert response.status_code == 200, response.json()
    patterns = profile_row(customer)["behavior_patterns"]
    empty = {"chosen": 0, "rejected": 0, "successes": 0, "failures": 0}
    assert patterns["manufacturers"] == {
        str(catalog["far"].id): {**empty, "chosen": 1},
        str(catalog["premium"].id): {**empty, "rejected": 1},
        str(catalog["fast"].id): {**empty, "rejected": 1},
    }
    assert patterns["regions"] == {"east_asia": {**empty, "chosen": 1}}
    assert patterns["processes"] == {"cnc_machining": {**empty, "chosen": 1}}
    assert Interaction.objects.get().choice_data["feedback"] == "Cheap."


def test_manufacturer_patterns_bound_keeps_outcomes_then_choices_then_rejections_then_the_newest():
    records = {
        "old-rejected": {"rejected": 1},
        "outcome": {"failures": 1},
        "chosen-twice": {"chosen": 2},
        "chosen": {"chosen": 1, "rejected": 5},
        "rejected-twice": {"rejected": 2},
        "new-rejected": {"rejected": 1},
    }
    patterns = {"manufacturers": dict(records), "views": 3}

    manufacturer_patterns_bound(patterns, limit=4)

    assert list(patterns["manufacturers"]) == ["outcome", "chosen-twice", "chosen", "rejected-twice"]
    manufacturer_patterns_bound(patterns, limit=5)  # under the limit: unchanged
    assert len(patterns["manufacturers"]) == 4
    assert patterns["views"] == 3
    both = {"manufacturers": {"old-rejected": records["old-rejected"], "new-rejected": records["new-rejected"]}}
    manufacturer_patterns_bound(both, limit=1)
    assert list(both["manufacturers"]) == ["new-rejected"]


@pytest.mark.django_db
def test_behaviour_patterns_keep_a_bounded_number_of_manufacturers_those_with_the_most_evidence(
    api_client, customer, catalog
):
    shown = recommend(api_client)
    empty = {"chosen": 0, "rejected": 0, "successes": 0, "failures": 0}
    # A full map: one manufacturer that converted, then rejected-only ones from the oldest to the newest.
    full = {"900000": {**empty, "chosen": 1, "successes": 1}}
    full |= {str(900001 + i): {**empty, "rejected": 1} for i in range(MANUFACTURER_PATTERNS - 1)}
    CustomerPersonalizationProfile.objects.filter(customer=customer).update(behavior_patterns={"manufacturers": full})
    rejected = [catalog["premium"].id, catalog["fast"].id]

    response = choose(api_client, shown, catalog["far"].id, rejected_manufacturer_ids=rejected)

    assert response.status_code == 200, response.json()
    kept = profile_row(customer)["behavior_patterns"]["manufacturers"]
    assert len(kept) == MANUFACTURER_PATTERNS
    # The chosen one and the one with an outcome stay; of the rejected-only ones the three oldest make room.
    assert kept[str(catalog["far"].id)] == {**empty, "chosen": 1}
    assert kept["900000"] == full["900000"]
    assert {"900001", "900002", "900003"}.isdisjoint(kept)
    assert {str(catalog["premium"].id), str(catalog["fast"].id), "900004"} <= set(kept)


@pytest.mark.django_db
def test_confidence_rises_and_learning_velocity_falls_with_every_choice(api_client, customer, catalog):
    confidences, velocities = [0.0], [1.0]
    for n in range(5):
        shown = recommend(api_client)
        response = choose(api_client, shown, catalog["balanced"].id, f"evt-{n}")
        assert response.status_code == 200, response.json()
        confidences.append(response.json()["personal_confidence"])
        velocities.append(response.json()["learning_velocity"])

    assert all(later > earlier for earlier, later in itertools.pairwise(confidences))
    assert all(later < earlier for earlier, later in itertools.pairwise(velocities))
    assert velocities[-1] == pytest.approx(risk_adjusted_step(12000) * (1 - confidences[-1]), abs=1e-5)


@pytest.mark.django_db
def test_a_high_value_order_is_learnt_from_more_cautiously(catalog):
    small_customer, large_customer = CustomerAccountFactory(), CustomerAccountFactory()
    small_client, large_client = token_client(small_customer.user), token_client(large_customer.user)
    small, large = recommend(small_client, estimated_value=1000), recommend(large_client, estimated_value=5e8)

    small_body = choose(small_client, small, catalog["balanced"].id).json()
    large_body = choose(large_client, large, catalog["balanced"].id).json()

    assert small_body["learning_velocity"] == pytest.approx(
        risk_adjusted_step(1000) * (1 - small_body["personal_confidence"]), abs=1e-5
    )
    assert large_body["learning_velocity"] == pytest.approx(
        risk_adjusted_step(5e8) * (1 - large_body["personal_confidence"]), abs=1e-5
    )
    assert large_body["learning_velocity"] < 0.5 * small_body["learning_velocity"]


@pytest.mark.django_db
def test_many_identical_extreme_choices_never_move_the_belief_more_than_the_bound_per_event(
    api_client, customer, catalog
):
    steps, summaries = [], []
    for n in range(15):
        shown = recommend(api_client)
        mean_before = np.array(profile_row(customer)["preference_state"]["mean"])
        worst = shown_ids(shown)[-1]  # the option the belief likes least: the largest gradient
        response = choose(api_client, shown, worst, f"evt-{n}")
        assert response.status_code == 200, response.json()
        summaries.append(response.json()["update"])
        mean_after = np.array(profile_row(customer)["preference_state"]["mean"])
        steps.append(float(np.linalg.norm(mean_after - mean_before)))

    assert any(summary["clipped"] for summary in summaries)  # the bound was reached, so it was tested
    for summary, step in zip(summaries, steps):
        assert summary["step_norm"] <= learning.MAX_STEP_NORM
        assert step <= learning.MAX_STEP_NORM + 1e-6
        assert step == pytest.approx(summary["step_norm"], abs=1e-5)
    stored = [i.update_summary["step_norm"] for i in Interaction.objects.order_by("created_at")]
    assert stored == [summary["step_norm"] for summary in summaries]
    weights = profile_row(customer)["personal_weights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(value >= 0 for value in weights.values())


# --- interactions without a choice -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_interaction_without_a_choice_counts_an_interaction_and_changes_no_weights(api_client, customer, catalog):
    shown = recommend(api_client)
    before = profile_row(customer)

    response = feedback(
        api_client,
        shown["session_id"],
        interaction_data={"viewed_manufacturer_ids": shown_ids(shown)[:2], "time_to_decision_seconds": 30},
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "event_id": "evt-1",
        "duplicate": False,
        "session_id": shown["session_id"],
        "weights_version": 0,
        "personal_weights": before["personal_weights"],
        "personal_confidence": before["personal_confidence"],
        "learning_velocity": before["learning_velocity"],
        "update": {"weights_before": before["personal_weights"]},
    }
    after = profile_row(customer)
    assert after["total_interactions"] == before["total_interactions"] + 1 == 1
    assert after["last_interaction_at"] is not None
    assert after["behavior_patterns"]["views"] == 2
    for unchanged in (
        "weights_version",
        "personal_weights",
        "preference_state",
        "personal_confidence",
        "learning_velocity",
        "total_choices",
        "average_choice_rank",
        "risk_tolerance",
        "complexity_comfort_level",
        "preference_evolution",
    ):
        assert after[unchanged] == before[unchanged], unchanged
    interaction = Interaction.objects.get()
    assert interaction.chosen_manufacturer_id is None
    assert interaction.chosen_rank is None
    assert interaction.time_to_decision_seconds == 30.0


@pytest.mark.django_db
def test_a_session_can_be_viewed_first_and_chosen_from_later(api_client, customer, catalog):
    shown = recommend(api_client)

    viewed = feedback(
        api_client, shown["session_id"], "view-1", interaction_data={"viewed_manufacturer_ids": shown_ids(shown)[:1]}
    )
    chosen = feedback(
        api_client,
        shown["session_id"],
        "choice-1",
        interaction_data={"explanation_opened": False},
        choice_data={"chosen_manufacturer_id": catalog["fast"].id},
    )

    assert viewed.status_code == 200, viewed.json()
    assert chosen.status_code == 200, chosen.json()
    profile = profile_row(customer)
    assert profile["total_interactions"] == 2
    assert profile["total_choices"] == 1
    assert profile["weights_version"] == 1
    assert Interaction.objects.filter(session_id=shown["session_id"]).count() == 2


@pytest.mark.django_db
def test_null_choice_data_with_interaction_data_is_an_interaction(api_client, customer, catalog):
    shown = recommend(api_client)
    body = {"event_id": "evt-1", "session_id": shown["session_id"], "interaction_data": {"explanation_opened": True}}

    response = api_client.post(URL, {**body, "choice_data": None}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["weights_version"] == 0
    profile = profile_row(customer)
    assert profile["total_interactions"] == 1
    assert profile["total_choices"] == 0
    assert Interaction.objects.get().choice_data is None


@pytest.mark.django_db
def test_decision_speed_profile_follows_the_typical_time_to_decide(api_client, customer, catalog):
    shown = recommend(api_client)

    fast = feedback(api_client, shown["session_id"], "evt-1", interaction_data={"time_to_decision_seconds": 120})
    assert fast.status_code == 200, fast.json()
    assert profile_row(customer)["decision_speed_profile"] == {
        "n": 1,
        "mean_log_seconds": round(math.log1p(120), 6),
        "typical_seconds": 120.0,
        "category": "fast",
    }
    slow = feedback(api_client, shown["session_id"], "evt-2", interaction_data={"time_to_decision_seconds": 3600})
    assert slow.status_code == 200, slow.json()

    mean_log = (math.log1p(120) + math.log1p(3600)) / 2
    assert profile_row(customer)["decision_speed_profile"] == {
        "n": 2,
        "mean_log_seconds": pytest.approx(mean_log, abs=1e-5),
        "typical_seconds": pytest.approx(math.expm1(mean_log), abs=0.1),
        "category": "deliberate",
    }


@pytest.mark.django_db
def test_opening_explanations_in_most_sessions_switches_to_detailed_explanations(api_client, customer, catalog):
    preferences = []
    for n, opened in enumerate([True, False, False, True, True]):
        shown = recommend(api_client)
        response = feedback(
            api_client, shown["session_id"], f"evt-{n}", interaction_data={"explanation_opened": opened}
        )
        assert response.status_code == 200, response.json()
        preferences.append(profile_row(customer)["explanation_preference"])

    # opened 1/1, 1/2, 1/3, 2/4, 3/5: detailed only while more than half were opened
    assert preferences == ["detailed", "summary", "summary", "summary", "detailed"]
    assert profile_row(customer)["behavior_patterns"]["explanations"] == {"opened": 3, "sessions": 5}
    assert all("Breakdown:" in item["explanation"] for item in recommend(api_client)["recommendations"])


@pytest.mark.django_db
def test_summary_customers_get_one_line_explanations(api_client, customer, catalog):
    shown = recommend(api_client)
    response = feedback(api_client, shown["session_id"], interaction_data={"explanation_opened": False})

    assert response.status_code == 200, response.json()
    assert profile_row(customer)["explanation_preference"] == ExplanationPreference.SUMMARY
    assert not any("Breakdown:" in item["explanation"] for item in recommend(api_client)["recommendations"])


# --- idempotency -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_repeated_event_id_returns_the_first_result_marked_duplicate_and_changes_nothing(api_client, customer, catalog):
    shown = recommend(api_client)
    body = {
        "interaction_data": {"viewed_manufacturer_ids": shown_ids(shown), "time_to_decision_seconds": 50},
        "choice_data": {"chosen_manufacturer_id": catalog["cheap"].id},
    }
    first = feedback(api_client, shown["session_id"], "evt-1", **body)
    assert first.status_code == 200, first.json()
    applied = profile_row(customer)

    repeat = feedback(api_client, shown["session_id"], "evt-1", **body)

    assert repeat.status_code == 200, repeat.json()
    assert repeat.json() == {**first.json(), "duplicate": True}
    assert profile_row(customer) == applied
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
def test_a_repeat_with_other_valid_details_returns_the_first_result_and_changes_nothing(api_client, customer, catalog):
    """The event id decides: a retry whose details differ (another time, another view) is still the first event."""
    shown = recommend(api_client)
    first = feedback(
        api_client,
        shown["session_id"],
        "evt-1",
        interaction_data={"viewed_manufacturer_ids": shown_ids(shown)[:1], "time_to_decision_seconds": 50},
        choice_data={"chosen_manufacturer_id": catalog["cheap"].id},
    )
    assert first.status_code == 200, first.json()
    applied = profile_row(customer)

    repeat = feedback(
        api_client,
        shown["session_id"],
        "evt-1",
        interaction_data={"time_to_decision_seconds": 5000, "explanation_opened": True},
        choice_data={"chosen_manufacturer_id": catalog["premium"].id},
    )

    assert repeat.status_code == 200, repeat.json()
    assert repeat.json() == {**first.json(), "duplicate": True}
    assert profile_row(customer) == applied
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
def test_an_event_id_reused_for_another_session_is_refused_and_changes_nothing(api_client, customer, catalog):
    shown = recommend(api_client)
    first = choose(api_client, shown, catalog["cheap"].id, "evt-1")
    assert first.status_code == 200, first.json()
    applied = profile_row(customer)

    other = recommend(api_client)
    repeat = feedback(
        api_client,
        other["session_id"],
        "evt-1",
        interaction_data={"time_to_decision_seconds": 5, "explanation_opened": True},
        choice_data={"chosen_manufacturer_id": catalog["premium"].id},
    )

    assert repeat.status_code == 400, repeat.json()
    assert repeat.json()["extra"]["fields"] == {"event_id": ["This event id was used for another session."]}
    assert profile_row(customer) == applied
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
def test_event_ids_belong_to_their_customer(api_client, customer, other_customer, catalog):
    other_client = token_client(other_customer.user)
    mine, theirs = recommend(api_client), recommend(other_client)

    assert choose(api_client, mine, catalog["cheap"].id, "evt-1").json()["duplicate"] is False
    response = choose(other_client, theirs, catalog["cheap"].id, "evt-1")

    assert response.status_code == 200, response.json()
    assert response.json()["duplicate"] is False
    assert profile_row(other_customer)["weights_version"] == 1
    assert Interaction.objects.count() == 2


# --- bad input: nothing is half-written ------------------------------------------------------------------------


@pytest.fixture
def shown(api_client, catalog):
    """One session of `customer`, shown all five manufacturers."""
    recommendation = recommend(api_client)
    assert len(recommendation["recommendations"]) == 5
    return recommendation


@pytest.fixture
def unchanged(customer, shown):
    """Asserts after the test that the rejected request left the profile and the interactions as they were."""
    before = profile_row(customer)
    interactions = list(Interaction.objects.values())
    yield
    assert profile_row(customer) == before
    assert list(Interaction.objects.values()) == interactions


@pytest.mark.django_db
def test_unknown_session_is_a_404(api_client, shown, unchanged):
    response = feedback(api_client, uuid.uuid4(), interaction_data={"explanation_opened": True})

    assert response.status_code == 404
    assert response.json() == {"message": "No such session.", "extra": {}}


@pytest.mark.django_db
def test_another_customers_session_is_a_404_and_changes_neither_profile(
    api_client, shown, unchanged, other_customer, catalog
):
    theirs = recommend(token_client(other_customer.user))
    their_profile = profile_row(other_customer)

    response = choose(api_client, theirs, catalog["cheap"].id)

    assert response.status_code == 404
    assert response.json() == {"message": "No such session.", "extra": {}}
    assert profile_row(other_customer) == their_profile


@pytest.mark.django_db
def test_feedback_on_a_session_whose_customer_has_no_profile_creates_it_and_learns(api_client, customer, catalog):
    """A loaded history's sessions have no profile behind them until the first feedback (or a rebuild)."""
    shown = recommend(api_client)
    CustomerPersonalizationProfile.objects.filter(customer=customer).delete()

    response = choose(api_client, shown, catalog["premium"].id)

    assert response.status_code == 200, response.json()
    profile = profile_row(customer)
    assert (profile["total_choices"], profile["weights_version"]) == (1, 1)


@pytest.mark.django_db
def test_chosen_manufacturer_not_shown_in_the_session_is_refused(api_client, shown, unchanged):
    not_shown = ManufacturerFactory(processes=["casting"])

    response = choose(api_client, shown, not_shown.id)

    assert_domain_error(
        response, "choice_data.chosen_manufacturer_id", "The chosen manufacturer was not shown in this session."
    )


@pytest.mark.django_db
def test_chosen_manufacturer_shown_in_another_session_is_refused(api_client, customer, catalog):
    other_catalog_maker = ManufacturerFactory(processes=["casting"], materials=["aluminium"])
    casting = recommend(api_client, process="casting")
    assert shown_ids(casting) == [other_catalog_maker.id]
    cnc = recommend(api_client)
    before = profile_row(customer)

    response = choose(api_client, cnc, other_catalog_maker.id)

    assert_domain_error(
        response, "choice_data.chosen_manufacturer_id", "The chosen manufacturer was not shown in this session."
    )
    assert profile_row(customer) == before
    assert not Interaction.objects.exists()


@pytest.mark.django_db
def test_wrong_chosen_rank_is_refused_naming_it(api_client, shown, unchanged, catalog):
    rank = rank_of(shown, catalog["cheap"].id)
    wrong = 1 if rank != 1 else 2

    response = choose(api_client, shown, catalog["cheap"].id, chosen_rank=wrong)

    assert_domain_error(
        response,
        "choice_data.chosen_rank",
        f"The chosen manufacturer was shown at rank {rank}, not {wrong}.",
    )


@pytest.mark.django_db
def test_rejected_manufacturers_not_shown_are_refused(api_client, shown, unchanged, catalog):
    stranger = ManufacturerFactory(processes=["casting"])

    response = choose(
        api_client, shown, catalog["cheap"].id, rejected_manufacturer_ids=[catalog["fast"].id, stranger.id]
    )

    assert_domain_error(
        response,
        "choice_data.rejected_manufacturer_ids",
        f"Manufacturers {[stranger.id]} were not shown in this session.",
    )


@pytest.mark.django_db
def test_a_manufacturer_both_chosen_and_rejected_is_refused(api_client, shown, unchanged, catalog):
    response = choose(api_client, shown, catalog["cheap"].id, rejected_manufacturer_ids=[catalog["cheap"].id])

    assert_domain_error(
        response, "choice_data.rejected_manufacturer_ids", "A manufacturer cannot be both chosen and rejected."
    )


@pytest.mark.django_db
def test_viewed_manufacturers_not_shown_are_refused(api_client, shown, unchanged, catalog):
    stranger = ManufacturerFactory(processes=["casting"])

    response = feedback(
        api_client,
        shown["session_id"],
        interaction_data={"viewed_manufacturer_ids": [catalog["fast"].id, stranger.id]},
        choice_data={"chosen_manufacturer_id": catalog["fast"].id},
    )

    assert_domain_error(
        response,
        "interaction_data.viewed_manufacturer_ids",
        f"Manufacturers {[stranger.id]} were not shown in this session.",
    )


@pytest.mark.django_db
def test_second_choice_on_the_same_session_is_refused(api_client, customer, shown, catalog):
    assert choose(api_client, shown, catalog["cheap"].id, "evt-1").status_code == 200
    before = profile_row(customer)

    response = choose(api_client, shown, catalog["premium"].id, "evt-2")
    same_again = choose(api_client, shown, catalog["cheap"].id, "evt-3")

    for refused in (response, same_again):
        assert_domain_error(refused, "session_id", "A choice was already recorded for this session.")
    assert profile_row(customer) == before
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
def test_feedback_on_a_session_that_showed_nothing_is_counted_and_a_choice_refused(api_client, customer, catalog):
    empty = recommend(api_client, process="casting")
    assert empty["recommendations"] == []

    viewed = feedback(api_client, empty["session_id"], "evt-1", interaction_data={"time_to_decision_seconds": 10})
    before = profile_row(customer)
    chosen = choose(api_client, empty, catalog["cheap"].id, "evt-2")

    assert viewed.status_code == 200, viewed.content
    assert before["total_interactions"] == 1
    assert_domain_error(
        chosen, "choice_data.chosen_manufacturer_id", "The chosen manufacturer was not shown in this session."
    )
    assert profile_row(customer) == before


NINETY_DAYS = 90 * 24 * 3600

INVALID_BODIES = [
    (
        "time-negative",
        {"interaction_data": {"time_to_decision_seconds": -1}},
        "interaction_data.time_to_decision_seconds",
    ),
    (
        "time-over-ninety-days",
        {"interaction_data": {"time_to_decision_seconds": NINETY_DAYS + 1}},
        "interaction_data.time_to_decision_seconds",
    ),
    (
        "time-nan",
        {"interaction_data": {"time_to_decision_seconds": "NaN"}},
        "interaction_data.time_to_decision_seconds",
    ),
    (
        "time-infinity",
        {"interaction_data": {"time_to_decision_seconds": "Infinity"}},
        "interaction_data.time_to_decision_seconds",
    ),
    (
        "time-bool",
        {"interaction_data": {"time_to_decision_seconds": True}},
        "interaction_data.time_to_decision_seconds",
    ),
    (
        "time-text",
        {"interaction_data": {"time_to_decision_seconds": "soon"}},
        "interaction_data.time_to_decision_seconds",
    ),
    ("opened-not-bool", {"interaction_data": {"explanation_opened": "often"}}, "interaction_data.explanation_opened"),
    (
        "viewed-not-a-list",
        {"interaction_data": {"viewed_manufacturer_ids": 1}},
        "interaction_data.viewed_manufacturer_ids",
    ),
    (
        "viewed-string-id",
        {"interaction_data": {"viewed_manufacturer_ids": ["one"]}},
        "interaction_data.viewed_manufacturer_ids.0",
    ),
    (
        "viewed-zero-id",
        {"interaction_data": {"viewed_manufacturer_ids": [0]}},
        "interaction_data.viewed_manufacturer_ids.0",
    ),
    (
        "viewed-too-many",
        {"interaction_data": {"viewed_manufacturer_ids": list(range(1, 52))}},
        "interaction_data.viewed_manufacturer_ids",
    ),
    ("interaction-unknown-field", {"interaction_data": {"dwell_time": 3}}, "interaction_data.dwell_time"),
    ("interaction-null", {"interaction_data": None}, "interaction_data"),
    ("interaction-a-list", {"interaction_data": [1]}, "interaction_data.non_field_errors"),
    ("chosen-missing", {"choice_data": {"chosen_rank": 1}}, "choice_data.chosen_manufacturer_id"),
    ("chosen-bool", {"choice_data": {"chosen_manufacturer_id": True}}, "choice_data.chosen_manufacturer_id"),
    ("chosen-text", {"choice_data": {"chosen_manufacturer_id": "abc"}}, "choice_data.chosen_manufacturer_id"),
    ("chosen-fraction", {"choice_data": {"chosen_manufacturer_id": 1.5}}, "choice_data.chosen_manufacturer_id"),
    ("chosen-negative", {"choice_data": {"chosen_manufacturer_id": -3}}, "choice_data.chosen_manufacturer_id"),
    ("chosen-over-bigint", {"choice_data": {"chosen_manufacturer_id": 2**63}}, "choice_data.chosen_manufacturer_id"),
    ("rank-zero", {"choice_data": {"chosen_manufacturer_id": 1, "chosen_rank": 0}}, "choice_data.chosen_rank"),
    ("rank-over-limit", {"choice_data": {"chosen_manufacturer_id": 1, "chosen_rank": 51}}, "choice_data.chosen_rank"),
    ("rank-bool", {"choice_data": {"chosen_manufacturer_id": 1, "chosen_rank": True}}, "choice_data.chosen_rank"),
    (
        "rejected-string-id",
        {"choice_data": {"chosen_manufacturer_id": 1, "rejected_manufacturer_ids": ["x"]}},
        "choice_data.rejected_manufacturer_ids.0",
    ),
    (
        "feedback-too-long",
        {"choice_data": {"chosen_manufacturer_id": 1, "feedback": "x" * 2001}},
        "choice_data.feedback",
    ),
    (
        "feedback-nul",
        {"choice_data": {"chosen_manufacturer_id": 1, "feedback": "good\u0000"}},
        "choice_data.feedback",
    ),
    ("choice-unknown-field", {"choice_data": {"chosen_manufacturer_id": 1, "score": 5}}, "choice_data.score"),
    ("choice-a-string", {"choice_data": "the cheap one"}, "choice_data.non_field_errors"),
    ("neither-data", {}, "interaction_data"),
    ("both-empty", {"interaction_data": {}, "choice_data": None}, "interaction_data"),
    ("unknown-top-level-field", {"interaction_data": {"explanation_opened": True}, "rating": 5}, "rating"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"), [(b, f) for _, b, f in INVALID_BODIES], ids=[i for i, _, _ in INVALID_BODIES]
)
def test_invalid_value_is_refused_naming_the_field(api_client, shown, unchanged, body, field):
    response = api_client.post(URL, {"event_id": "evt-1", "session_id": shown["session_id"], **body}, format="json")

    assert_field_error(response, field)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field",
    ["choice_data.chosen_manufacturer_id", "choice_data.chosen_rank", "interaction_data.viewed_manufacturer_ids.0"],
)
def test_an_id_or_rank_given_as_a_numeric_string_is_refused(api_client, shown, unchanged, catalog, field):
    chosen = catalog["cheap"].id
    rank = rank_of(shown, chosen)
    body = {
        "interaction_data": {"viewed_manufacturer_ids": [chosen]},
        "choice_data": {"chosen_manufacturer_id": chosen, "chosen_rank": rank},
    }
    if field == "choice_data.chosen_manufacturer_id":
        body["choice_data"]["chosen_manufacturer_id"] = str(chosen)
    elif field == "choice_data.chosen_rank":
        body["choice_data"]["chosen_rank"] = str(rank)
    else:
        body["interaction_data"]["viewed_manufacturer_ids"] = [str(chosen)]

    response = feedback(api_client, shown["session_id"], **body)

    assert_field_error(response, field)


@pytest.mark.django_db
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_raw_json_with_a_non_finite_time_is_a_400_in_the_error_shape(api_client, shown, unchanged, literal):
    body = {"event_id": "evt-1", "session_id": shown["session_id"], "interaction_data": {"time_to_decision_seconds": 0}}
    raw = json.dumps(body).replace('"time_to_decision_seconds": 0', f'"time_to_decision_seconds": {literal}')
    assert literal in raw

    response = api_client.post(URL, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "message": f"JSON parse error - Out of range float values are not JSON compliant: '{literal}'",
        "extra": {},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "event_id",
    ["", " evt", "evt 1", "-starts-with-dash", "x" * 101, "evt/1", "évènement", "evt\u0000"],
    ids=["empty", "leading-space", "space", "leading-dash", "too-long", "slash", "non-ascii", "nul"],
)
def test_malformed_event_id_is_refused(api_client, shown, unchanged, event_id):
    response = feedback(api_client, shown["session_id"], event_id, interaction_data={"explanation_opened": True})

    assert_field_error(response, "event_id")


@pytest.mark.django_db
@pytest.mark.parametrize(("missing", "field"), [("event_id", "event_id"), ("session_id", "session_id")])
def test_missing_event_or_session_id_is_refused(api_client, shown, unchanged, missing, field):
    body = {"event_id": "evt-1", "session_id": shown["session_id"], "interaction_data": {"explanation_opened": True}}
    del body[missing]

    response = api_client.post(URL, body, format="json")

    assert assert_field_error(response, field) == ["This field is required."]


@pytest.mark.django_db
@pytest.mark.parametrize("session_id", ["not-a-uuid", 42, None])
def test_malformed_session_id_is_refused(api_client, shown, unchanged, session_id):
    body = {"event_id": "evt-1", "session_id": session_id, "interaction_data": {"explanation_opened": True}}

    response = api_client.post(URL, body, format="json")

    assert_field_error(response, "session_id")


@pytest.mark.django_db
def test_body_that_is_not_an_object_is_refused(api_client, shown, unchanged):
    response = api_client.post(URL, data=json.dumps([shown["session_id"]]), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid data. Expected a dictionary, but got list.",
        "extra": {"fields": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}},
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # outside a transaction, as a request is: the write needs no savepoint
def test_a_choice_costs_three_statements(api_client, customer, catalog, django_assert_num_queries):
    """The hot path's round trips: the token with its user; the session with its customer and profile; and the
    profile's update with the interaction's insert, which is also the repeat and second-choice check, in one
    statement and no transaction of its own. None of them counts anything: a count of the customer's sessions
    made every choice slower the more sessions the customer had (test_acceptance_rate.py)."""
    shown = recommend(api_client)

    with django_assert_num_queries(3) as statements:
        response = choose(api_client, shown, catalog["cheap"].id)

    assert response.status_code == 200, response.json()
    assert not [q["sql"] for q in statements.captured_queries if "COUNT(" in q["sql"].upper()]
    assert profile_row(customer)["total_choices"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_interaction_without_a_choice_costs_three_statements(
    api_client, customer, catalog, django_assert_num_queries
):
    """As a choice: every field it reads and writes comes with the first read."""
    shown = recommend(api_client)
    data = {"viewed_manufacturer_ids": shown_ids(shown), "time_to_decision_seconds": 30, "explanation_opened": True}

    with django_assert_num_queries(3):
        response = feedback(api_client, shown["session_id"], "evt-1", interaction_data=data)

    assert response.status_code == 200, response.json()
    assert profile_row(customer)["total_interactions"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("lock", [False, True], ids=["unlocked", "locked"])
def test_the_feedback_read_gives_the_session_customer_and_profile_as_the_orm_reads_them(
    api_client, customer, catalog, lock
):
    """The feedback's read is written as SQL: every field it holds must come back as the ORM's own read gives it
    (JSON decoded, times aware, the same types), and the customer and profile be wired to the session."""
    shown = recommend(api_client)
    choose(api_client, shown, catalog["cheap"].id)  # a profile with a belief, patterns and times to read back
    second = recommend(api_client)
    session_id = uuid.UUID(second["session_id"])

    session = session_with_profile(session_id=session_id, user=customer.user, lock=lock)

    expected = RecommendationSession.objects.get(pk=session_id)
    profile = CustomerPersonalizationProfile.objects.get(customer=customer)
    for name in FEEDBACK_SESSION_FIELDS:
        assert getattr(session, name) == getattr(expected, name), name
        assert type(getattr(session, name)) is type(getattr(expected, name)), name
    read = session.customer.personalization_profile
    for name in FEEDBACK_PROFILE_FIELDS:
        assert getattr(read, name) == getattr(profile, name), name
        assert type(getattr(read, name)) is type(getattr(profile, name)), name
    assert read.last_interaction_at is not None
    assert read.last_interaction_at.tzinfo is not None
    assert session.customer.pk == customer.pk
    assert read.customer_id == customer.pk
    assert session_with_profile(session_id=uuid.uuid4(), user=customer.user, lock=lock) is None


@pytest.mark.django_db
def test_feedback_learnt_from_a_profile_written_since_its_read_is_not_written(api_client, customer, catalog):
    """The write applies only to the revision that was read: what was learnt from an older read is dropped
    whole, the interaction with it, and the caller reads again."""
    first, second = recommend(api_client), recommend(api_client)
    stale = session_with_profile(session_id=uuid.UUID(second["session_id"]), user=customer.user)
    assert choose(api_client, first, catalog["cheap"].id, "evt-first").status_code == 200
    written = profile_row(customer)

    with pytest.raises(_ProfileChanged):
        _feedback_apply(
            stale.customer.personalization_profile,
            customer=stale.customer,
            session=stale,
            event_id="evt-stale",
            interaction_data={},
            choice_data={"chosen_manufacturer_id": catalog["fast"].id},
        )

    assert profile_row(customer) == written
    assert list(Interaction.objects.values_list("event_id", flat=True)) == ["evt-first"]
    assert choose(api_client, second, catalog["fast"].id, "evt-stale").status_code == 200  # read again, it applies
    assert profile_row(customer)["total_choices"] == 2


@pytest.mark.django_db
def test_a_write_refused_by_a_constraint_of_the_profile_is_raised_not_taken_for_a_repeat(customer, catalog):
    """Only the interaction's unique constraints mean "already recorded"; the profile's own checks (here a
    count that cannot be negative) are an error of the engine's, and nothing is written."""
    shown = recommendation_create(customer=customer, order_context=ORDER).session
    session = session_with_profile(session_id=shown.pk, user=customer.user)
    profile = session.customer.personalization_profile
    before = profile_row(customer)
    profile.total_interactions = -5

    with pytest.raises(IntegrityError):
        _feedback_apply(
            profile,
            customer=session.customer,
            session=session,
            event_id="evt-1",
            interaction_data={"time_to_decision_seconds": 30},
            choice_data=None,
        )

    assert profile_row(customer) == before
    assert not Interaction.objects.exists()


@pytest.mark.django_db  # the locked attempt runs in a transaction
def test_feedback_takes_the_lock_after_losing_the_race_for_an_unchanged_profile_three_times():
    tries = []

    def attempt(lock: bool) -> str:
        tries.append(lock)
        if not lock:
            raise _ProfileChanged
        return "applied"

    assert _optimistically(attempt) == "applied"
    assert tries == [False] * OPTIMISTIC_ATTEMPTS + [True]


@pytest.mark.django_db
@pytest.mark.parametrize("repeat", [False, True], ids=["applied", "duplicate"])
def test_the_fast_response_body_equals_what_the_documented_serializer_gives(customer, catalog, repeat):
    """The endpoint builds its body directly (the hot path); the schema's serializer must agree with it, for a
    result just learnt and for a repeat, whose profile is read back from the database."""
    session = recommendation_create(customer=customer, order_context=ORDER).session
    chosen = int(session.candidates[1]["manufacturer_id"])
    for _ in range(2 if repeat else 1):
        result = profile_apply_feedback(
            customer=customer,
            session=session,
            event_id="evt-1",
            interaction_data={"time_to_decision_seconds": 30},
            choice_data={"chosen_manufacturer_id": chosen},
        )
    documented = ProfileUpdateResponseSerializer(
        {
            "event_id": result.interaction.event_id,
            "duplicate": result.duplicate,
            "session_id": result.interaction.session_id,
            "weights_version": result.profile.weights_version,
            "personal_weights": result.profile.personal_weights,
            "personal_confidence": result.profile.personal_confidence,
            "learning_velocity": result.profile.learning_velocity,
            "update": result.interaction.update_summary,
        }
    ).data

    assert result.duplicate is repeat
    assert json.loads(json.dumps(profile_update_response_data(result))) == json.loads(json.dumps(documented))


# --- access ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_without_a_customer_account_is_forbidden(staff_client, shown, unchanged, catalog):
    response = choose(staff_client, shown, catalog["cheap"].id)

    assert response.status_code == 403
    assert response.json() == {"message": "Only customer accounts have a profile.", "extra": {}}


@pytest.mark.django_db
def test_anonymous_caller_is_told_to_authenticate(anonymous_client, shown, unchanged, catalog):
    response = choose(anonymous_client, shown, catalog["cheap"].id)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


@pytest.mark.django_db
def test_user_without_a_customer_account_gets_no_profile(catalog):
    client = token_client(UserFactory())

    response = feedback(client, uuid.uuid4(), interaction_data={"explanation_opened": True})

    assert response.status_code == 403
    assert not CustomerPersonalizationProfile.objects.exists()


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_copies_of_one_feedback_event_apply_once(catalog):
    customer = CustomerAccountFactory()
    client = token_client(customer.user)
    shown = recommend(client)
    chosen = catalog["balanced"].id

    def post():
        response = choose(token_client(customer.user), shown, chosen, "same-event")
        return response.status_code, response.json()

    results = run_concurrently([post] * 16)

    assert not [r for r in results if isinstance(r, Exception)], results

    assert [status for status, _ in results] == [200] * 16, results
    assert sorted(body["duplicate"] for _, body in results) == [False] + [True] * 15
    assert {body["weights_version"] for _, body in results} == {1}
    assert Interaction.objects.count() == 1
    profile = profile_row(customer)
    assert profile["weights_version"] == 1
    assert profile["total_interactions"] == 1
    assert profile["total_choices"] == 1
    assert len(profile["preference_evolution"]) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_choices_on_sixteen_sessions_all_apply(catalog):
    customer = CustomerAccountFactory()
    client = token_client(customer.user)
    sessions = [recommend(client) for _ in range(16)]

    def post(n):
        def call():
            response = choose(token_client(customer.user), sessions[n], catalog["fast"].id, f"evt-{n}")
            return response.status_code, response.json()

        return call

    results = run_concurrently([post(n) for n in range(16)])

    assert not [r for r in results if isinstance(r, Exception)], results

    assert [status for status, _ in results] == [200] * 16, results
    assert not any(body["duplicate"] for _, body in results)
    assert sorted(body["weights_version"] for _, body in results) == list(range(1, 17))
    profile = profile_row(customer)
    assert profile["total_choices"] == 16
    assert profile["total_interactions"] == 16
    assert profile["weights_version"] == 16
    assert [snapshot["version"] for snapshot in profile["preference_evolution"]] == list(
        range(17 - EVOLUTION_SNAPSHOTS, 17)
    )
    assert profile["behavior_patterns"]["manufacturers"][str(catalog["fast"].id)]["chosen"] == 16
    assert Interaction.objects.filter(chosen_manufacturer_id=catalog["fast"].id).count() == 16


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_choices_on_one_session_apply_once(catalog):
    """Different events, one session: each write is refused by the profile's revision or by the table's one
    choice per session, whichever comes first; every later read sees the choice the first one committed."""
    customer = CustomerAccountFactory()
    client = token_client(customer.user)
    shown = recommend(client)

    def post(n):
        def call():
            response = choose(token_client(customer.user), shown, catalog["cheap"].id, f"evt-{n}")
            return response.status_code, response.json()

        return call

    results = run_concurrently([post(n) for n in range(8)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(status for status, _ in results) == [200] + [400] * 7, results
    refused = [body for status, body in results if status == 400]
    assert {body["message"] for body in refused} == {"A choice was already recorded for this session."}
    profile = profile_row(customer)
    assert profile["total_choices"] == 1
    assert profile["weights_version"] == 1
    assert Interaction.objects.count() == 1


# --- what feedback writes ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("with_choice", [True, False], ids=["choice", "interaction only"])
def test_feedback_writes_every_profile_field_it_changes(customer, catalog, with_choice):
    """Feedback saves only CHOICE_FIELDS, or INTERACTION_FIELDS without a choice: the stored row must equal
    the profile object it learnt on, for every field, after events that exercise everything feedback learns."""
    for i, explanation_opened in enumerate((True, True, False)):
        result = recommendation_create(customer=customer, order_context=ORDER, exploration_seed=i)
        ids = [item.manufacturer_id for item in result.items]
        learnt = profile_apply_feedback(
            customer=customer,
            session=result.session,
            event_id=f"evt-{i}",
            interaction_data={
                "viewed_manufacturer_ids": ids[:2],
                "time_to_decision_seconds": 90.0 * (i + 1),
                "explanation_opened": explanation_opened,
            },
            choice_data={"chosen_manufacturer_id": ids[1], "rejected_manufacturer_ids": [ids[0]]}
            if with_choice
            else None,
        ).profile
        stored = CustomerPersonalizationProfile.objects.get(pk=learnt.pk)

        for field in CustomerPersonalizationProfile._meta.concrete_fields:
            assert getattr(stored, field.attname) == getattr(learnt, field.attname), field.name
    assert stored.explanation_preference == ExplanationPreference.DETAILED
    assert stored.total_interactions == 3
    assert stored.total_choices == (3 if with_choice else 0)
