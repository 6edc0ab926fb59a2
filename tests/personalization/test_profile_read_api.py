from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.scoring import OrderContext
from marketplace.vocabulary import FACTOR_LABELS, FACTORS
from personalization import learning
from personalization.models import CustomerPersonalizationProfile
from personalization.policy import RETENTION_TILT
from personalization.services import profile_apply_feedback, recommendation_create, session_outcome_record
from personalization.services.profiles import factor_map, segment_prior_get
from tests.conftest import token_client
from tests.factories import CustomerAccountFactory, ManufacturerFactory, UserFactory

URL = "/api/v1/advanced-personalization/profile/personal"

ORDER = OrderContext(
    process="cnc_machining",
    quantity=100,
    complexity_level="complex",
    estimated_value=12_000.0,
    quality_requirements=0.8,
    timeline_urgency=0.5,
    delivery_region="western_europe",
)

TOP_LEVEL_FIELDS = {
    "customer_id",
    "segment",
    "weights_version",
    "top_factors",
    "personal_confidence",
    "personalization_level",
    "customer_class",
    "customer_class_reason",
    "behavior_patterns",
    "performance",
    "learning_velocity",
    "explanation_preference",
    "risk_tolerance",
    "complexity_comfort_level",
    "preference_evolution",
    "created_at",
    "updated_at",
    "last_interaction_at",
}


def _shown_ids(session) -> list[int]:
    return [c["manufacturer_id"] for c in sorted(session.candidates, key=lambda c: c["rank"])]


@pytest.mark.django_db
def test_first_read_creates_the_profile_from_the_segment_prior(api_client, customer):
    assert not CustomerPersonalizationProfile.objects.filter(customer=customer).exists()

    response = api_client.get(URL)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == TOP_LEVEL_FIELDS
    profile = CustomerPersonalizationProfile.objects.get(customer=customer)
    prior = segment_prior_get(segment=customer.segment)
    expected = factor_map(learning.effective_weights(learning.prior_state(prior.mean, prior.sd)))
    assert {f["factor"]: f["weight"] for f in body["top_factors"]} == pytest.approx(expected)
    weights = [f["weight"] for f in body["top_factors"]]
    assert weights == sorted(weights, reverse=True)
    assert [f["factor"] for f in body["top_factors"]] == sorted(FACTORS, key=lambda f: (-expected[f], FACTORS.index(f)))
    assert all(f["label"] == FACTOR_LABELS[f["factor"]] for f in body["top_factors"])
    assert body["customer_id"] == customer.id
    assert body["segment"] == "balanced"
    assert body["weights_version"] == profile.weights_version == 0
    assert body["personal_confidence"] == 0.0
    assert body["personalization_level"] == 0.0
    assert body["customer_class"] == "new"
    assert body["customer_class_reason"] == "0 choices so far, confidence 0.00"
    assert body["behavior_patterns"] == {
        "top_manufacturers": [],
        "top_regions": [],
        "top_processes": [],
        "views": 0,
        "explanations_opened": 0,
        "explanation_sessions": 0,
        "decision_speed": {"decisions": 0, "typical_seconds": None, "category": None},
    }
    assert body["performance"] == {
        "conversion_rate": 0.0,
        "recommendation_acceptance_rate": 0.0,
        "average_satisfaction": None,
        "average_choice_rank": None,
        "successful_matches": 0,
        "total_interactions": 0,
        "total_choices": 0,
        "outcomes": 0,
        "ratings": 0,
    }
    assert body["preference_evolution"] == []
    assert body["explanation_preference"] == "summary"
    assert body["risk_tolerance"] == 0.5
    assert body["complexity_comfort_level"] == 0.5
    assert body["learning_velocity"] == 1.0
    assert body["last_interaction_at"] is None
    assert body["created_at"]
    # A second read returns the same profile rather than creating another one.
    assert api_client.get(URL).json()["created_at"] == body["created_at"]
    assert CustomerPersonalizationProfile.objects.filter(customer=customer).count() == 1


@pytest.mark.django_db
def test_profile_reads_back_what_feedback_and_outcomes_taught(api_client, customer):
    makers = [
        ManufacturerFactory(name="Precision Works", quality_score=0.95, on_time_delivery_rate=0.98),
        ManufacturerFactory(name="Budget Parts", cost_index=0.5, quality_score=0.5),
        ManufacturerFactory(name="Quick Turn", avg_lead_time_days=2.0),
    ]
    session = recommendation_create(customer=customer, order_context=ORDER).session
    shown = _shown_ids(session)
    chosen = shown[1]
    profile_apply_feedback(
        customer=customer,
        session=session,
        event_id="e1",
        interaction_data={
            "viewed_manufacturer_ids": shown,
            "time_to_decision_seconds": 120,
            "explanation_opened": True,
        },
        choice_data={"chosen_manufacturer_id": chosen, "chosen_rank": 2, "rejected_manufacturer_ids": [shown[0]]},
    )
    session_outcome_record(
        session=session, event_id="o1", manufacturer_id=chosen, converted=True, contract_value=Decimal("9000")
    )
    session_outcome_record(session=session, event_id="o2", manufacturer_id=chosen, satisfaction=5)

    response = api_client.get(URL)

    assert response.status_code == 200, response.json()
    body = response.json()
    profile = CustomerPersonalizationProfile.objects.get(customer=customer)
    names = {m.id: m.name for m in makers}
    patterns = body["behavior_patterns"]
    assert patterns["top_manufacturers"] == [
        {"id": chosen, "name": names[chosen], "chosen": 1, "rejected": 0, "successes": 1, "failures": 0}
    ]
    assert patterns["top_regions"] == [
        {"code": "western_europe", "label": "Western Europe", "chosen": 1, "rejected": 0, "successes": 1, "failures": 0}
    ]
    assert patterns["top_processes"] == [
        {"code": "cnc_machining", "label": "CNC machining", "chosen": 1, "rejected": 0, "successes": 1, "failures": 0}
    ]
    assert patterns["views"] == 3
    assert patterns["explanations_opened"] == 1
    assert patterns["explanation_sessions"] == 1
    assert patterns["decision_speed"] == {"decisions": 1, "typical_seconds": 120.0, "category": "fast"}
    assert body["performance"] == {
        "conversion_rate": 1.0,
        "recommendation_acceptance_rate": 1.0,
        "average_satisfaction": 5.0,
        "average_choice_rank": 2.0,
        "successful_matches": 1,
        "total_interactions": 1,
        "total_choices": 1,
        "outcomes": 1,
        "ratings": 1,
    }
    assert body["weights_version"] == profile.weights_version > 0
    assert {f["factor"]: f["weight"] for f in body["top_factors"]} == pytest.approx(profile.personal_weights)
    assert body["personal_confidence"] == profile.personal_confidence
    assert body["learning_velocity"] == profile.learning_velocity
    assert body["explanation_preference"] == "detailed"
    assert body["risk_tolerance"] == profile.risk_tolerance
    assert body["complexity_comfort_level"] == profile.complexity_comfort_level
    assert [s["version"] for s in body["preference_evolution"]] == [1]
    assert body["preference_evolution"][0]["weights"] == profile.preference_evolution[0]["weights"]
    assert body["last_interaction_at"] is not None


@pytest.mark.django_db
def test_patterns_show_the_five_most_chosen_and_the_last_five_snapshots(api_client, customer):
    maker_names = {ManufacturerFactory(name=f"Maker {i}").id: f"Maker {i}" for i in range(7)}
    ids = list(maker_names)
    counts = {"chosen": 0, "rejected": 0, "successes": 0, "failures": 0}
    now = timezone.now()
    CustomerPersonalizationProfile.objects.create(
        customer=customer,
        personal_weights=dict(zip(FACTORS, [0.05, 0.4, 0.1, 0.3, 0.05, 0.1])),
        preference_state={},
        prior_state={},
        behavior_patterns={
            "manufacturers": {
                **{str(m): {**counts, "chosen": i + 1} for i, m in enumerate(ids[:6])},
                str(ids[6]): {**counts, "rejected": 4},  # never chosen: not a pattern of choice
                "999999": {**counts, "chosen": 9},  # a manufacturer that no longer exists
            },
            "regions": {"east_asia": {**counts, "chosen": 2}, "western_europe": {**counts, "chosen": 5}},
        },
        preference_evolution=[
            {
                "at": (now - timedelta(days=8 - v)).isoformat(),
                "version": v,
                "weights": dict(zip(FACTORS, [1 / 6] * 6)),
                "confidence": v / 10,
            }
            for v in range(1, 9)
        ],
    )

    body = api_client.get(URL).json()

    assert [f["factor"] for f in body["top_factors"]] == [
        "quality_fit",
        "reliability",
        "speed_fit",
        "capability_depth",
        "cost_fit",
        "proximity",
    ]
    top = body["behavior_patterns"]["top_manufacturers"]
    assert [(m["id"], m["name"], m["chosen"]) for m in top] == [
        (999999, None, 9),
        (ids[5], maker_names[ids[5]], 6),
        (ids[4], maker_names[ids[4]], 5),
        (ids[3], maker_names[ids[3]], 4),
        (ids[2], maker_names[ids[2]], 3),
    ]
    assert [r["label"] for r in body["behavior_patterns"]["top_regions"]] == ["Western Europe", "East Asia"]
    assert [s["version"] for s in body["preference_evolution"]] == [4, 5, 6, 7, 8]
    assert body["preference_evolution"][-1]["confidence"] == 0.8


@pytest.mark.django_db
def test_profile_reports_the_class_the_policy_gives_an_at_risk_customer(api_client, customer):
    CustomerPersonalizationProfile.objects.create(
        customer=customer,
        personal_weights=dict(zip(FACTORS, [1 / 6] * 6)),
        preference_state={},
        prior_state={},
        personal_confidence=0.8,
        total_choices=12,
        recent_satisfaction=[5.0, 4.0, 2.0],
        average_satisfaction=4.2,
        last_interaction_at=timezone.now(),
    )

    body = api_client.get(URL).json()

    assert body["customer_class"] == "at_risk"
    assert body["customer_class_reason"] == "the last rating was 2 of 5"
    assert body["personal_confidence"] == 0.8
    assert body["personalization_level"] == 1 - RETENTION_TILT  # capped for an at-risk customer


@pytest.mark.django_db
def test_each_customer_reads_only_its_own_profile(api_client, customer, other_customer):
    CustomerPersonalizationProfile.objects.create(
        customer=other_customer,
        personal_weights=dict(zip(FACTORS, [0.5, 0.1, 0.1, 0.1, 0.1, 0.1])),
        preference_state={},
        prior_state={},
        total_choices=40,
        personal_confidence=0.9,
    )

    body = api_client.get(URL).json()

    assert body["customer_id"] == customer.id
    assert body["performance"]["total_choices"] == 0
    assert body["personal_confidence"] == 0.0
    other = token_client(other_customer.user).get(URL).json()
    assert other["customer_id"] == other_customer.id
    assert other["performance"]["total_choices"] == 40


@pytest.mark.django_db
def test_staff_without_a_customer_account_are_refused(staff_client):
    response = staff_client.get(URL)

    assert response.status_code == 403
    assert response.json() == {"message": "Only customer accounts have a profile.", "extra": {}}
    assert not CustomerPersonalizationProfile.objects.exists()


@pytest.mark.django_db
def test_staff_with_a_customer_account_read_that_accounts_profile():
    account = CustomerAccountFactory(user=UserFactory(is_staff=True))

    response = token_client(account.user).get(URL)

    assert response.status_code == 200
    assert response.json()["customer_id"] == account.id


@pytest.mark.django_db
def test_anonymous_callers_are_asked_to_authenticate(anonymous_client):
    response = anonymous_client.get(URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}
