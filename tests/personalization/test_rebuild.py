"""Profiles rebuilt from the decision log learn exactly what they learnt when the events arrived."""

from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command

from personalization.models import CustomerPersonalizationProfile
from personalization.services import (
    profile_apply_feedback,
    profile_rebuild,
    recommendation_create,
    session_outcome_record,
)
from personalization.services.profiles import state_from_json
from tests.api_helpers import ORDER
from tests.factories import ManufacturerFactory

LEARNT = (
    "personal_weights",
    "preference_state",
    "weights_version",
    "total_interactions",
    "total_choices",
    "successful_matches",
    "personal_confidence",
    "learning_velocity",
    "risk_tolerance",
    "complexity_comfort_level",
    "average_satisfaction",
    "recent_satisfaction",
    "average_choice_rank",
    "conversion_rate",
    "strategy_performance",
    "behavior_patterns",
    "decision_speed_profile",
)


def learnt(customer) -> dict:
    profile = CustomerPersonalizationProfile.objects.get(customer=customer)
    return {name: getattr(profile, name) for name in LEARNT}


@pytest.mark.django_db
def test_a_rebuilt_profile_equals_the_one_learnt_event_by_event(customer):
    rng = np.random.default_rng(4)
    for _ in range(8):
        ManufacturerFactory(
            quality_score=float(rng.uniform(0.4, 0.99)),
            cost_index=float(rng.uniform(0.6, 1.9)),
            on_time_delivery_rate=float(rng.uniform(0.6, 0.99)),
        )
    for i in range(6):
        result = recommendation_create(customer=customer, order_context=ORDER, exploration_seed=i)
        chosen = result.items[int(rng.integers(len(result.items)))].manufacturer_id
        profile_apply_feedback(
            customer=customer,
            session=result.session,
            event_id=f"f{i}",
            interaction_data={"time_to_decision_seconds": 60.0 * (i + 1)},
            choice_data={"chosen_manufacturer_id": chosen},
        )
        converted = bool(i % 2)
        session_outcome_record(
            session=result.session,
            event_id=f"o{i}",
            manufacturer_id=chosen,
            converted=converted,
            contract_value=Decimal("900.00") if converted else None,
        )
        if converted:
            session_outcome_record(
                session=result.session,
                event_id=f"r{i}",
                manufacturer_id=chosen,
                satisfaction=2 + i % 4,
                delivered_on_time=i % 3 == 0,
            )
    incremental = learnt(customer)

    profile_rebuild(customer=customer)

    rebuilt = learnt(customer)
    for name in LEARNT:
        if name == "preference_state":
            np.testing.assert_allclose(rebuilt[name]["mean"], incremental[name]["mean"], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(
                state_from_json(rebuilt[name]).precision_array,
                state_from_json(incremental[name]).precision_array,
                rtol=1e-9,
            )
        else:
            assert rebuilt[name] == incremental[name], name
    assert incremental["total_choices"] == 6


@pytest.mark.django_db
def test_rebuilding_a_loaded_history_twice_gives_the_same_profiles():
    call_command(
        "simulate_marketplace",
        "--manufacturers",
        "60",
        "--customers",
        "25",
        "--days",
        "60",
        "--seed",
        "5",
        "--no-progress",
    )
    call_command("personalization_rebuild", "--no-progress")
    first = {
        p.customer_id: (p.personal_weights, p.total_choices, p.conversion_rate)
        for p in CustomerPersonalizationProfile.objects.all()
    }

    call_command("personalization_rebuild", "--no-progress")

    second = {
        p.customer_id: (p.personal_weights, p.total_choices, p.conversion_rate)
        for p in CustomerPersonalizationProfile.objects.all()
    }
    assert second == first
    assert len(first) == 25
    assert sum(choices for _, choices, _ in first.values()) > 0
