import json

import numpy as np
import pytest

from core.errors import DomainError
from marketplace import scoring
from marketplace.selectors import catalog_get
from marketplace.services import manufacturer_update
from marketplace.vocabulary import FACTORS
from personalization.api.serializers import RecommendationResponseSerializer, recommendation_response_data
from personalization.models import RecommendationSession
from personalization.services import (
    Preferences,
    customer_order_get,
    order_context_from_order,
    recommendation_create,
    strategy_weights,
)
from tests.factories import ManufacturerFactory, OrderFactory

ORDER = scoring.OrderContext(
    process="cnc_machining",
    quantity=100,
    complexity_level="complex",
    estimated_value=12000.0,
    quality_requirements=0.8,
    timeline_urgency=0.5,
    delivery_region="western_europe",
)


@pytest.mark.parametrize(("goal", "strategy"), list(scoring.GOAL_STRATEGY.items()))
def test_goal_without_stated_importance_gives_the_base_strategy_weights(goal, strategy):
    name, weights, version, reasoning = strategy_weights(goal=goal, preferences=Preferences())

    assert name == strategy
    assert weights.tolist() == scoring.STRATEGIES[strategy].tolist()
    assert version == f"base:{strategy}"
    assert reasoning == f"Optimization goal '{goal}' selects the {strategy} strategy."


def test_stated_importance_is_blended_half_and_half_with_the_base_weights():
    preferences = Preferences(factor_importance={"reliability": 0.2, "cost_fit": 0.6})

    _, weights, version, reasoning = strategy_weights(goal="speed", preferences=preferences)

    stated = np.array([0.75, 0, 0, 0.25, 0, 0])
    assert weights == pytest.approx(0.5 * scoring.STRATEGIES["speed_focused"] + 0.5 * stated)
    assert weights.sum() == pytest.approx(1.0)
    assert version == "base:speed_focused+stated"
    assert reasoning.endswith("Your stated importance of cost_fit, reliability takes 50% of the weights.")


def test_stated_importance_does_not_change_the_shared_strategy_vectors():
    before = scoring.STRATEGIES["balanced"].copy()

    strategy_weights(goal="balanced", preferences=Preferences(factor_importance={"proximity": 1.0}))

    assert scoring.STRATEGIES["balanced"].tolist() == before.tolist()


@pytest.mark.django_db
def test_recommendation_create_logs_exactly_what_it_returns(customer):
    ManufacturerFactory(quality_score=0.9)
    ManufacturerFactory(cost_index=0.6)
    ManufacturerFactory(avg_lead_time_days=4)

    result = recommendation_create(customer=customer, order_context=ORDER, optimization_goal="cost", limit=2)

    session = RecommendationSession.objects.get()
    assert result.session == session
    assert [i.rank for i in result.items] == [1, 2]
    assert session.candidates == [
        {
            "manufacturer_id": i.manufacturer_id,
            "rank": i.rank,
            "score": i.score,
            "features": i.features,
            "contributions": i.contributions,
        }
        for i in result.items
    ]
    assert session.eligible_count == 3
    assert session.weights == pytest.approx(dict(zip(FACTORS, scoring.STRATEGIES["cost_focused"])))
    assert session.catalog_version == catalog_get().version


@pytest.mark.django_db
def test_recommendation_for_an_order_links_it_and_scores_its_context(customer):
    ManufacturerFactory(processes=["sheet_metal"], materials=["stainless_steel"])
    order = OrderFactory(customer=customer, process_id="sheet_metal", material_id="stainless_steel", quantity=40)

    result = recommendation_create(customer=customer, order_context=order_context_from_order(order), order=order)

    assert len(result.items) == 1
    assert result.session.order == order
    assert result.session.order_context["quantity"] == 40
    assert result.session.order_context["process"] == "sheet_metal"


@pytest.mark.django_db
def test_customer_order_get_refuses_another_customers_order(customer, other_customer):
    foreign = OrderFactory(customer=other_customer)

    with pytest.raises(DomainError) as error:
        customer_order_get(customer=customer, order_id=foreign.id)

    assert error.value.extra == {"fields": {"order_id": ["No such order among yours."]}}


@pytest.mark.django_db
def test_catalog_is_reused_until_a_manufacturer_changes(customer):
    maker = ManufacturerFactory()
    first = catalog_get()
    recommendation_create(customer=customer, order_context=ORDER)

    assert catalog_get() is first

    manufacturer_update(manufacturer=maker, data={"cost_index": 1.5})

    rebuilt = catalog_get()
    assert rebuilt is not first
    assert rebuilt.version != first.version
    assert rebuilt.cost_index.tolist() == [1.5]


@pytest.mark.django_db
def test_the_fast_response_body_equals_what_the_documented_serializer_gives(customer):
    """The endpoint builds its body directly (the hot path); the schema's serializer must agree with it."""
    ManufacturerFactory(quality_score=0.9)
    ManufacturerFactory(quality_score=0.6, cost_index=0.7)
    result = recommendation_create(customer=customer, order_context=ORDER)
    session = result.session
    documented = RecommendationResponseSerializer(
        {
            "recommendations": result.items,
            "personalization_metadata": session,
            "session_id": session.id,
            "timestamp": session.created_at,
        }
    ).data

    assert len(result.items) == 2
    assert json.loads(json.dumps(recommendation_response_data(result))) == json.loads(json.dumps(documented))
