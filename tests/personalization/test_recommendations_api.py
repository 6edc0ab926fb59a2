import json
import math
import random
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from rest_framework.test import APIClient

from marketplace import scoring
from marketplace.selectors import catalog_get
from marketplace.services import manufacturer_update
from marketplace.vocabulary import FACTORS
from personalization import policy
from personalization.models import RecommendationSession
from personalization.services import recommendations
from tests.api_helpers import ORDER_CONTEXT, assert_field_error
from tests.factories import ManufacturerFactory, OrderFactory

URL = "/api/v1/advanced-personalization/recommendations/personalized"


GOAL_STRATEGIES = [
    ("balanced", "balanced"),
    ("quality", "quality_focused"),
    ("cost", "cost_focused"),
    ("speed", "speed_focused"),
]

# A fresh customer of a segment with no fitted preferences starts from the default prior: the balanced weights.
SEGMENT_WEIGHTS = scoring.STRATEGIES["balanced"]
NEW_CUSTOMER_REASON = (
    "New customer (0 choices so far, confidence 0.00): your segment's preferences, adjusted by the few choices "
    "you made, with more exploration below the top three."
)
NO_ELIGIBLE_REASON = "No active manufacturer meets the hard filters (process, capacity, minimum order value"
# The factory's manufacturers have 10 completed orders; a fresh customer's risk tolerance is 0.5.
FRESH_CUSTOMER_BOOST = -policy.RISK_PENALTY * 0.5 * math.exp(-10 / policy.TRACK_RECORD_ORDERS)


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def recommend(client, body, **kwargs):
    return client.post(URL, body, format="json", **kwargs)


def ranked_ids(response) -> list[int]:
    return [item["manufacturer"]["id"] for item in response.json()["recommendations"]]


def goal_weights(strategy: str) -> np.ndarray:
    """The weights of a fresh customer under a goal: the segment's, tilted GOAL_TILT toward the goal's strategy."""
    if strategy == "balanced":
        return SEGMENT_WEIGHTS
    return (1 - policy.GOAL_TILT) * SEGMENT_WEIGHTS + policy.GOAL_TILT * scoring.STRATEGIES[strategy]


def scores_by_id(response) -> dict[int, float]:
    return {item["manufacturer"]["id"]: item["score"] for item in response.json()["recommendations"]}


@pytest.fixture(autouse=True)
def seeded_session_ids(monkeypatch):
    """Session ids, which seed the exploration, from a seeded generator: every run explores the same lists."""
    generator = random.Random(2024)
    monkeypatch.setattr(
        recommendations, "uuid", SimpleNamespace(uuid4=lambda: uuid.UUID(int=generator.getrandbits(128), version=4))
    )


@pytest.fixture
def no_exploration(monkeypatch):
    """Exploration at temperature 0: the whole list is the ranking by score."""
    monkeypatch.setattr(policy, "TEMPERATURE_MAX", 0.0)
    monkeypatch.setattr(policy, "TEMPERATURE_MIN", 0.0)


@pytest.fixture
def varied_catalog(db):
    """Manufacturers that each win under a different goal, plus one that cannot do the process."""
    return {
        "cheap": ManufacturerFactory(cost_index=0.5, quality_score=0.5, on_time_delivery_rate=0.8),
        "premium": ManufacturerFactory(cost_index=2.0, quality_score=0.98, on_time_delivery_rate=0.99),
        "fast": ManufacturerFactory(cost_index=1.2, quality_score=0.7, avg_lead_time_days=2.0),
        "far": ManufacturerFactory(country="CN", region="east_asia", latitude=31.0, longitude=121.0),
        "balanced": ManufacturerFactory(cost_index=1.1, quality_score=0.8, certifications=["iso_9001", "as9100"]),
        "casting_only": ManufacturerFactory(processes=["casting"], materials=["aluminium"]),
    }


@pytest.fixture
def specialists(db):
    """Three manufacturers close enough under the segment's weights for a goal's 30% tilt to decide the top."""
    return {
        "cheap": ManufacturerFactory(cost_index=0.6, quality_score=0.75),
        "premium": ManufacturerFactory(cost_index=1.3, quality_score=0.99, on_time_delivery_rate=0.97),
        "fast": ManufacturerFactory(cost_index=1.1, quality_score=0.78, avg_lead_time_days=4.0),
    }


# --- happy path: shape, scores, ranks --------------------------------------------------------------------------


@pytest.mark.django_db
def test_recommendations_rank_capable_manufacturers_and_explain_each(api_client):
    best = ManufacturerFactory(quality_score=0.95, on_time_delivery_rate=0.98)
    ManufacturerFactory(quality_score=0.5)
    ManufacturerFactory(processes=["casting"], materials=["aluminium"])  # not capable

    response = api_client.post(URL, {"order_context": ORDER_CONTEXT, "optimization_goal": "quality"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert [r["rank"] for r in body["recommendations"]] == [1, 2]
    assert body["recommendations"][0]["manufacturer"]["id"] == best.id
    assert body["personalization_metadata"]["algorithm_used"] == "segment_prior"
    assert body["personalization_metadata"]["customer_class"] == "new"
    assert body["session_id"]


@pytest.mark.django_db
def test_a_recommendation_reads_the_customer_with_its_profile_in_one_query(
    api_client, django_assert_num_queries, settings
):
    """The hot path: the token with its user, the customer with its profile, the decision-log INSERT (the
    catalog is the process's copy)."""
    settings.CATALOG_VERSION_CHECK_SECONDS = 60.0
    ManufacturerFactory()
    body = {"order_context": ORDER_CONTEXT, "optimization_goal": "quality"}
    assert api_client.post(URL, body, format="json").status_code == 200  # creates the profile

    with django_assert_num_queries(3) as captured:
        response = api_client.post(URL, body, format="json")

    assert response.status_code == 200, response.json()
    assert "personalization_customerpersonalizationprofile" in captured.captured_queries[1]["sql"]
    assert RecommendationSession.objects.count() == 2


@pytest.mark.django_db
def test_response_has_every_documented_field_with_all_six_factors(api_client, varied_catalog):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"recommendations", "personalization_metadata", "session_id", "timestamp"}
    assert len(body["recommendations"]) == 5
    for item in body["recommendations"]:
        assert set(item) == {
            "manufacturer",
            "rank",
            "score",
            "factor_contributions",
            "factor_values",
            "pattern_boost",
            "explanation",
        }
        assert set(item["manufacturer"]) == {"id", "name", "country", "region"}
        assert list(item["factor_contributions"]) == list(FACTORS)
        assert list(item["factor_values"]) == list(FACTORS)
        assert all(0.0 <= value <= 1.0 for value in item["factor_values"].values())
        assert item["explanation"].startswith(f"Ranked #{item['rank']} mainly for ")
    far = next(i for i in body["recommendations"] if i["manufacturer"]["id"] == varied_catalog["far"].id)
    assert far["manufacturer"] == {
        "id": varied_catalog["far"].id,
        "name": varied_catalog["far"].name,
        "country": "CN",
        "region": "east_asia",
    }
    assert body["personalization_metadata"] == {
        "algorithm_used": "segment_prior",
        "customer_class": "new",
        "personalization_level": 0.0,
        "personal_confidence": 0.0,
        "exploration_temperature": policy.TEMPERATURE_MAX,
        "ab_test_active": False,
        "optimization_reasoning": NEW_CUSTOMER_REASON,
        "weights_version": "profile:v0",
        "eligible_candidates": 5,
    }
    session = RecommendationSession.objects.get()
    assert body["session_id"] == str(session.id)
    assert body["timestamp"].replace("Z", "+00:00") == session.created_at.isoformat()


@pytest.mark.django_db
def test_each_score_is_its_factor_contributions_plus_its_pattern_boost_and_each_contribution_is_weight_times_value(
    api_client, varied_catalog
):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": "speed"})

    assert response.status_code == 200, response.json()
    weights = dict(zip(FACTORS, goal_weights("speed_focused")))
    for item in response.json()["recommendations"]:
        assert item["pattern_boost"] == pytest.approx(FRESH_CUSTOMER_BOOST, abs=1e-6)
        expected_score = sum(item["factor_contributions"].values()) + item["pattern_boost"]
        assert item["score"] == pytest.approx(expected_score, abs=1e-5)
        for factor in FACTORS:
            expected = weights[factor] * item["factor_values"][factor]
            assert item["factor_contributions"][factor] == pytest.approx(expected, abs=1e-5)


@pytest.mark.django_db
def test_ranks_run_from_one_and_the_top_three_are_the_best_by_score(api_client, varied_catalog):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    items = response.json()["recommendations"]
    assert len(items) == 5
    assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
    scores = [i["score"] for i in items]
    assert scores[: policy.EXPLOIT_POSITIONS] == sorted(scores, reverse=True)[: policy.EXPLOIT_POSITIONS]
    assert all(score <= scores[policy.EXPLOIT_POSITIONS - 1] for score in scores[policy.EXPLOIT_POSITIONS :])
    assert len(set(scores)) > 1


@pytest.mark.django_db
def test_without_exploration_the_whole_list_is_in_descending_score(api_client, varied_catalog, no_exploration):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    scores = [i["score"] for i in response.json()["recommendations"]]
    assert len(scores) == 5
    assert scores == sorted(scores, reverse=True)
    assert response.json()["personalization_metadata"]["exploration_temperature"] == 0.0


@pytest.mark.django_db
def test_identical_manufacturers_are_ranked_by_catalog_order(api_client):
    first, second, third = ManufacturerFactory(), ManufacturerFactory(), ManufacturerFactory()

    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    assert ranked_ids(response) == [first.id, second.id, third.id]


def base_ranking(weights: np.ndarray, limit: int = 10) -> scoring.Ranking:
    order = scoring.OrderContext(delivery_region=ORDER_CONTEXT["region"], **_without(ORDER_CONTEXT, "region"))
    return scoring.rank(catalog_get(), order, weights, limit=limit)


@pytest.mark.django_db
@pytest.mark.parametrize(("goal", "strategy"), GOAL_STRATEGIES)
def test_optimization_goal_tilts_the_segment_weights_30_percent_toward_its_strategy(
    api_client, varied_catalog, goal, strategy
):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": goal})

    assert response.status_code == 200, response.json()
    metadata = response.json()["personalization_metadata"]
    assert metadata["algorithm_used"] == "segment_prior"
    assert metadata["weights_version"] == "profile:v0"
    tilt = f" Optimization goal '{goal}' pulls 30% toward the {strategy} strategy."
    assert metadata["optimization_reasoning"] == NEW_CUSTOMER_REASON + ("" if goal == "balanced" else tilt)
    session = RecommendationSession.objects.get()
    assert session.weights == pytest.approx(dict(zip(FACTORS, goal_weights(strategy))), abs=1e-6)
    # The top three are the base scoring's under those weights; every item scores its features by them.
    expected = base_ranking(goal_weights(strategy))
    catalog = catalog_get()
    top = policy.EXPLOIT_POSITIONS
    assert ranked_ids(response)[:top] == [int(catalog.ids[row]) for row in expected.rows[:top]]
    by_id = dict(zip((int(catalog.ids[row]) for row in expected.rows), expected.scores.tolist()))
    for item in response.json()["recommendations"]:
        assert item["score"] == pytest.approx(by_id[item["manufacturer"]["id"]] + item["pattern_boost"], abs=1e-5)


@pytest.mark.django_db
@pytest.mark.parametrize(("goal", "strategy"), GOAL_STRATEGIES)
def test_without_exploration_the_whole_list_is_the_base_ranking_under_the_tilted_weights(
    api_client, varied_catalog, no_exploration, goal, strategy
):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": goal})

    expected = base_ranking(goal_weights(strategy))
    catalog = catalog_get()
    assert ranked_ids(response) == [int(catalog.ids[row]) for row in expected.rows]
    scores = [i["score"] - i["pattern_boost"] for i in response.json()["recommendations"]]
    assert scores == pytest.approx(expected.scores.tolist(), abs=1e-5)


@pytest.mark.django_db
def test_goals_change_who_ranks_first_among_manufacturers_the_segment_finds_close(api_client, specialists):
    tops = {
        goal: ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": goal}))[0]
        for goal in ("quality", "cost", "speed")
    }

    assert tops == {
        "quality": specialists["premium"].id,
        "cost": specialists["cheap"].id,
        "speed": specialists["fast"].id,
    }


@pytest.mark.django_db
def test_a_goal_tilts_rather_than_replaces_the_customers_weights(api_client, varied_catalog):
    # The certified all-rounder stays first for a new customer whatever the goal: 70% of the weights are still
    # the segment's. Under a goal's strategy alone, the premium, cheap and fast manufacturers would win.
    catalog = catalog_get()
    for goal, strategy in GOAL_STRATEGIES[1:]:
        response = recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": goal})

        assert ranked_ids(response)[0] == varied_catalog["balanced"].id
        alone = base_ranking(scoring.STRATEGIES[strategy], limit=1)
        assert int(catalog.ids[alone.rows[0]]) != varied_catalog["balanced"].id


@pytest.mark.django_db
def test_order_context_without_optional_material_is_accepted_and_material_is_scored_when_given(api_client):
    works_titanium = ManufacturerFactory(materials=["aluminium", "titanium"])
    aluminium_only = ManufacturerFactory(materials=["aluminium"])

    response = recommend(api_client, {"order_context": {**ORDER_CONTEXT, "material": "titanium"}})

    assert response.status_code == 200, response.json()
    assert ranked_ids(response) == [works_titanium.id, aluminium_only.id]
    depth = {
        i["manufacturer"]["id"]: i["factor_values"]["capability_depth"] for i in response.json()["recommendations"]
    }
    assert depth[works_titanium.id] - depth[aluminium_only.id] == pytest.approx(0.45, abs=1e-5)


# --- limit -----------------------------------------------------------------------------------------------------


@pytest.fixture
def twelve_manufacturers(db):
    return [ManufacturerFactory(quality_score=0.5 + 0.04 * i, cost_index=0.6 + 0.1 * i) for i in range(12)]


@pytest.mark.django_db
def test_ten_recommendations_by_default_out_of_all_eligible(api_client, twelve_manufacturers):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    body = response.json()
    assert len(body["recommendations"]) == 10
    assert body["personalization_metadata"]["eligible_candidates"] == 12


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [1, 3, 5, 50])
def test_limit_caps_the_recommendations_and_the_top_three_are_the_same_at_any_limit(
    api_client, twelve_manufacturers, limit
):
    full = ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": 50}))

    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": limit})

    assert response.status_code == 200, response.json()
    assert len(full) == 12
    shown = ranked_ids(response)
    assert len(shown) == min(limit, 12)
    assert len(set(shown)) == len(shown)
    top = min(limit, policy.EXPLOIT_POSITIONS)
    assert shown[:top] == full[:top]
    assert response.json()["personalization_metadata"]["eligible_candidates"] == 12


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [1, 3, 5, 50])
def test_without_exploration_limit_caps_the_recommendations_at_the_top_of_the_full_ranking(
    api_client, twelve_manufacturers, no_exploration, limit
):
    full = ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": 50}))

    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": limit})

    assert ranked_ids(response) == full[:limit]


@pytest.mark.django_db
def test_below_the_top_three_the_list_is_explored_differently_by_each_session(api_client, twelve_manufacturers):
    lists = [ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": 12})) for _ in range(8)]

    top = policy.EXPLOIT_POSITIONS
    assert len({tuple(shown[:top]) for shown in lists}) == 1
    assert len({tuple(shown[top:]) for shown in lists}) > 1
    assert all(sorted(shown) == sorted(lists[0]) for shown in lists)


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [0, 51, -1, "ten", None])
def test_limit_outside_1_to_50_is_rejected(api_client, twelve_manufacturers, limit):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": limit})

    assert_field_error(response, "limit")
    assert not RecommendationSession.objects.exists()


# --- the decision log ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_session_is_written_with_what_was_shown(api_client, customer, varied_catalog):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": "cost", "limit": 3})

    assert response.status_code == 200, response.json()
    body = response.json()
    session = RecommendationSession.objects.get()
    assert str(session.id) == body["session_id"]
    assert session.customer == customer
    assert session.order is None
    assert session.source == RecommendationSession.Source.API
    assert session.optimization_goal == "cost"
    assert session.algorithm_used == "segment_prior"
    assert session.customer_class == "new"
    assert session.personalization_level == 0.0
    assert session.personal_confidence == 0.0
    assert session.weights_version == "profile:v0"
    assert session.weights == pytest.approx(dict(zip(FACTORS, goal_weights("cost_focused"))), abs=1e-6)
    assert session.propensity == 1.0
    assert session.exploration_temperature == policy.TEMPERATURE_MAX
    assert session.log_propensity == 0.0  # only the top three were shown: nothing was explored
    assert session.exploration_seed == session.id.int >> 65
    assert session.eligible_count == 5 == body["personalization_metadata"]["eligible_candidates"]
    assert session.catalog_version == catalog_get().version
    assert session.order_context == {
        **_without(ORDER_CONTEXT, "region"),
        "delivery_region": "western_europe",
        "material": None,
    }
    assert session.candidates == [
        {
            "manufacturer_id": item["manufacturer"]["id"],
            "rank": item["rank"],
            "score": item["score"],
            "region": item["manufacturer"]["region"],
            "features": item["factor_values"],
            "contributions": item["factor_contributions"],
            "pattern_boost": item["pattern_boost"],
            "position_propensity": 1.0,
        }
        for item in body["recommendations"]
    ]
    assert len(session.candidates) == 3


@pytest.mark.django_db
def test_session_logs_the_propensity_of_every_explored_position(api_client, twelve_manufacturers):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "limit": 8})

    session = RecommendationSession.objects.get(id=response.json()["session_id"])
    propensities = [c["position_propensity"] for c in session.candidates]
    assert len(propensities) == 8
    assert propensities[: policy.EXPLOIT_POSITIONS] == [1.0] * policy.EXPLOIT_POSITIONS
    assert all(0 < p < 1 for p in propensities[policy.EXPLOIT_POSITIONS :])
    assert session.log_propensity < 0
    assert session.log_propensity == pytest.approx(sum(math.log(p) for p in propensities), abs=1e-4)
    assert session.exploration_temperature == policy.TEMPERATURE_MAX
    assert [c["region"] for c in session.candidates] == ["western_europe"] * 8
    assert [c["manufacturer_id"] for c in session.candidates] == ranked_ids(response)


@pytest.mark.django_db
def test_every_response_appends_its_own_session(api_client, varied_catalog):
    ids = {recommend(api_client, {"order_context": ORDER_CONTEXT}).json()["session_id"] for _ in range(3)}

    assert len(ids) == 3
    assert {str(pk) for pk in RecommendationSession.objects.values_list("id", flat=True)} == ids


@pytest.mark.django_db
def test_session_records_the_preferences_as_given(api_client, varied_catalog):
    preferences = {
        "required_certifications": ["iso_9001"],
        "excluded_manufacturer_ids": [varied_catalog["cheap"].id],
        "max_lead_time_days": 30,
        "factor_importance": {"quality_fit": 1.0},
    }

    recommend(api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": preferences})

    assert RecommendationSession.objects.get().customer_preferences == preferences


# --- order_id --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_own_order_is_scored_and_linked_to_the_session(api_client, customer):
    caster = ManufacturerFactory(processes=["casting"], materials=["brass"])
    ManufacturerFactory()  # CNC only: not capable of the order's process
    order = OrderFactory(
        customer=customer, process_id="casting", material_id="brass", estimated_value=800, delivery_region="east_asia"
    )

    response = recommend(api_client, {"order_id": order.id})

    assert response.status_code == 200, response.json()
    assert ranked_ids(response) == [caster.id]
    session = RecommendationSession.objects.get()
    assert session.order == order
    assert session.order_context["process"] == "casting"
    assert session.order_context["material"] == "brass"
    assert session.order_context["delivery_region"] == "east_asia"
    assert session.order_context["estimated_value"] == 800.0


@pytest.mark.django_db
def test_another_customers_order_and_a_missing_or_impossible_order_are_the_same_400(api_client, other_customer):
    ManufacturerFactory()
    foreign = OrderFactory(customer=other_customer)

    responses = [recommend(api_client, {"order_id": order_id}) for order_id in (foreign.id, foreign.id + 1000, 2**63)]

    for response in responses:
        assert response.status_code == 400
        assert response.json() == {
            "message": "No such order among yours.",
            "extra": {"fields": {"order_id": ["No such order among yours."]}},
        }
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("order_id", [0, -3, "abc", None, 1.5])
def test_order_id_that_is_not_a_possible_id_is_rejected(api_client, order_id):
    response = recommend(api_client, {"order_id": order_id})

    assert_field_error(response, "order_id")
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
def test_order_context_and_order_id_together_are_rejected(api_client, customer):
    order = OrderFactory(customer=customer)

    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "order_id": order.id})

    assert assert_field_error(response, "order_id") == ["Give either order_context or order_id, not both."]
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"optimization_goal": "cost", "limit": 5}])
def test_neither_order_context_nor_order_id_is_rejected(api_client, body):
    response = recommend(api_client, body)

    assert assert_field_error(response, "order_context") == ["This field is required (or give an order_id)."]


# --- customer preferences --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_required_certifications_keep_only_manufacturers_holding_all_of_them(api_client):
    both = ManufacturerFactory(certifications=["iso_9001", "as9100"])
    ManufacturerFactory(certifications=["iso_9001"])
    ManufacturerFactory()

    response = recommend(
        api_client,
        {"order_context": ORDER_CONTEXT, "customer_preferences": {"required_certifications": ["iso_9001", "as9100"]}},
    )

    assert ranked_ids(response) == [both.id]
    assert response.json()["personalization_metadata"]["eligible_candidates"] == 1


@pytest.mark.django_db
def test_excluded_manufacturers_are_never_recommended(api_client, varied_catalog):
    excluded = [varied_catalog["premium"].id, varied_catalog["cheap"].id]

    response = recommend(
        api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": {"excluded_manufacturer_ids": excluded}}
    )

    assert response.status_code == 200, response.json()
    assert set(ranked_ids(response)) == {varied_catalog[k].id for k in ("fast", "far", "balanced")}
    assert response.json()["personalization_metadata"]["eligible_candidates"] == 3


@pytest.mark.django_db
def test_excluding_an_id_that_is_not_in_the_catalog_changes_nothing(api_client, varied_catalog):
    plain = recommend(api_client, {"order_context": ORDER_CONTEXT})
    excluded = recommend(
        api_client,
        {"order_context": ORDER_CONTEXT, "customer_preferences": {"excluded_manufacturer_ids": [2**63 - 1]}},
    )

    assert excluded.status_code == 200, excluded.json()
    assert ranked_ids(excluded)[: policy.EXPLOIT_POSITIONS] == ranked_ids(plain)[: policy.EXPLOIT_POSITIONS]
    assert scores_by_id(excluded) == scores_by_id(plain)
    assert len(scores_by_id(plain)) == 5


@pytest.mark.django_db
def test_max_lead_time_keeps_only_manufacturers_that_quote_within_it(api_client):
    quick = ManufacturerFactory(avg_lead_time_days=10)
    ManufacturerFactory(avg_lead_time_days=30)
    on_the_limit = ManufacturerFactory(avg_lead_time_days=20)

    response = recommend(
        api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": {"max_lead_time_days": 20}}
    )

    assert set(ranked_ids(response)) == {quick.id, on_the_limit.id}


@pytest.mark.django_db
def test_stated_factor_importance_takes_half_the_weights_and_can_change_the_top(api_client, varied_catalog):
    plain = recommend(api_client, {"order_context": ORDER_CONTEXT, "optimization_goal": "quality"})
    stated = recommend(
        api_client,
        {
            "order_context": ORDER_CONTEXT,
            "optimization_goal": "quality",
            "customer_preferences": {"factor_importance": {"cost_fit": 1.0}},
        },
    )

    assert stated.status_code == 200, stated.json()
    assert ranked_ids(plain)[0] == varied_catalog["balanced"].id
    assert ranked_ids(stated)[0] == varied_catalog["cheap"].id
    metadata = stated.json()["personalization_metadata"]
    assert metadata["algorithm_used"] == "segment_prior"
    assert metadata["weights_version"] == "profile:v0"
    assert metadata["optimization_reasoning"].endswith(
        "Optimization goal 'quality' pulls 30% toward the quality_focused strategy. "
        "Your stated importance of cost_fit takes 50% of the weights."
    )
    expected = 0.5 * goal_weights("quality_focused") + 0.5 * np.array([1.0, 0, 0, 0, 0, 0])
    session = RecommendationSession.objects.get(id=stated.json()["session_id"])
    assert session.weights == pytest.approx(dict(zip(FACTORS, expected)), abs=1e-6)
    assert sum(session.weights.values()) == pytest.approx(1.0)
    top = stated.json()["recommendations"][0]
    assert top["factor_contributions"]["cost_fit"] == pytest.approx(
        expected[0] * top["factor_values"]["cost_fit"], abs=1e-6
    )


@pytest.mark.django_db
def test_stated_importance_is_normalised_across_the_named_factors(api_client, varied_catalog):
    response = recommend(
        api_client,
        {
            "order_context": ORDER_CONTEXT,
            "customer_preferences": {"factor_importance": {"speed_fit": 0.9, "proximity": 0.3}},
        },
    )

    session = RecommendationSession.objects.get(id=response.json()["session_id"])
    stated = np.array([0, 0, 0.75, 0, 0.25, 0])
    assert session.weights == pytest.approx(dict(zip(FACTORS, 0.5 * SEGMENT_WEIGHTS + 0.5 * stated)), abs=1e-6)


@pytest.mark.django_db
def test_all_zero_factor_importance_leaves_the_segment_weights(api_client, varied_catalog):
    response = recommend(
        api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": {"factor_importance": {"cost_fit": 0}}}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["personalization_metadata"]["optimization_reasoning"] == NEW_CUSTOMER_REASON
    session = RecommendationSession.objects.get()
    assert session.weights == pytest.approx(dict(zip(FACTORS, SEGMENT_WEIGHTS)), abs=1e-6)


@pytest.mark.django_db
def test_unknown_factor_in_factor_importance_is_rejected(api_client, varied_catalog):
    response = recommend(
        api_client,
        {"order_context": ORDER_CONTEXT, "customer_preferences": {"factor_importance": {"cost_fit": 1, "karma": 1}}},
    )

    messages = assert_field_error(response, "customer_preferences.factor_importance")
    assert messages[0].startswith("Unknown factor(s): karma.")
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", [-0.1, 1.01, 5, "NaN", "Infinity", "high", None])
def test_factor_importance_outside_the_unit_interval_is_rejected(api_client, varied_catalog, value):
    response = recommend(
        api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": {"factor_importance": {"cost_fit": value}}}
    )

    assert_field_error(response, "customer_preferences.factor_importance.cost_fit")
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("preferences", "field"),
    [
        ({"required_certifications": ["iso_0000"]}, "customer_preferences.required_certifications.0"),
        ({"required_certifications": "iso_9001"}, "customer_preferences.required_certifications"),
        ({"excluded_manufacturer_ids": [0]}, "customer_preferences.excluded_manufacturer_ids.0"),
        ({"excluded_manufacturer_ids": [1, 2**63]}, "customer_preferences.excluded_manufacturer_ids.1"),
        ({"excluded_manufacturer_ids": [10**30]}, "customer_preferences.excluded_manufacturer_ids.0"),
        ({"excluded_manufacturer_ids": list(range(1, 1002))}, "customer_preferences.excluded_manufacturer_ids"),
        ({"max_lead_time_days": 0}, "customer_preferences.max_lead_time_days"),
        ({"max_lead_time_days": 400}, "customer_preferences.max_lead_time_days"),
        ({"max_lead_time_days": "NaN"}, "customer_preferences.max_lead_time_days"),
        ({"factor_importance": [0.5]}, "customer_preferences.factor_importance"),
        ({"factor_importance": {"cost_fit\x00": 1}}, "customer_preferences.factor_importance"),
        ({"favourite_colour": "blue"}, "customer_preferences.favourite_colour"),
    ],
    ids=[
        "unknown-certification",
        "certifications-not-a-list",
        "excluded-id-zero",
        "excluded-id-beyond-int64",
        "excluded-id-huge",
        "too-many-excluded-ids",
        "lead-time-zero",
        "lead-time-over-a-year",
        "lead-time-nan",
        "factor-importance-not-an-object",
        "factor-name-with-nul",
        "unknown-preference",
    ],
)
def test_invalid_customer_preferences_are_rejected(api_client, varied_catalog, preferences, field):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": preferences})

    assert_field_error(response, field)
    assert not RecommendationSession.objects.exists()


# --- bad input -------------------------------------------------------------------------------------------------


BAD_ORDER_CONTEXTS = [
    ("unknown-complexity", {**ORDER_CONTEXT, "complexity_level": "extreme"}, "complexity_level"),
    ("quality-above-one", {**ORDER_CONTEXT, "quality_requirements": 1.01}, "quality_requirements"),
    ("quality-below-zero", {**ORDER_CONTEXT, "quality_requirements": -0.01}, "quality_requirements"),
    ("urgency-above-one", {**ORDER_CONTEXT, "timeline_urgency": 1.5}, "timeline_urgency"),
    ("urgency-below-zero", {**ORDER_CONTEXT, "timeline_urgency": -0.2}, "timeline_urgency"),
    ("urgency-nan", {**ORDER_CONTEXT, "timeline_urgency": "nan"}, "timeline_urgency"),
    ("value-negative", {**ORDER_CONTEXT, "estimated_value": -100}, "estimated_value"),
    ("value-zero", {**ORDER_CONTEXT, "estimated_value": 0}, "estimated_value"),
    ("value-not-a-number", {**ORDER_CONTEXT, "estimated_value": "abc"}, "estimated_value"),
    ("value-nan-string", {**ORDER_CONTEXT, "estimated_value": "NaN"}, "estimated_value"),
    ("value-infinity-string", {**ORDER_CONTEXT, "estimated_value": "Infinity"}, "estimated_value"),
    ("value-minus-infinity-string", {**ORDER_CONTEXT, "estimated_value": "-Infinity"}, "estimated_value"),
    ("value-too-large", {**ORDER_CONTEXT, "estimated_value": 1e13}, "estimated_value"),
    ("value-null", {**ORDER_CONTEXT, "estimated_value": None}, "estimated_value"),
    ("quantity-zero", {**ORDER_CONTEXT, "quantity": 0}, "quantity"),
    ("quantity-fractional", {**ORDER_CONTEXT, "quantity": 2.5}, "quantity"),
    ("quantity-huge", {**ORDER_CONTEXT, "quantity": 10**30}, "quantity"),
    ("unknown-process", {**ORDER_CONTEXT, "process": "welding"}, "process"),
    ("nul-in-process", {**ORDER_CONTEXT, "process": "cnc_machining\x00"}, "process"),
    ("nul-in-region", {**ORDER_CONTEXT, "region": "\x00"}, "region"),
    ("unknown-region", {**ORDER_CONTEXT, "region": "atlantis"}, "region"),
    ("unknown-material", {**ORDER_CONTEXT, "material": "cheese"}, "material"),
    ("material-not-worked-by-process", {**ORDER_CONTEXT, "material": "fr4"}, "material"),
    ("unknown-order-context-field", {**ORDER_CONTEXT, "colour": "red"}, "colour"),
    *[(f"missing-{name}", _without(ORDER_CONTEXT, name), name) for name in ORDER_CONTEXT],
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("order_context", "field"), [case[1:] for case in BAD_ORDER_CONTEXTS], ids=[case[0] for case in BAD_ORDER_CONTEXTS]
)
def test_invalid_order_context_is_rejected_naming_the_field(api_client, varied_catalog, order_context, field):
    response = recommend(api_client, {"order_context": order_context})

    assert_field_error(response, f"order_context.{field}")
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
def test_missing_order_context_field_says_it_is_required(api_client):
    response = recommend(api_client, {"order_context": _without(ORDER_CONTEXT, "quantity")})

    assert assert_field_error(response, "order_context.quantity") == ["This field is required."]


@pytest.mark.django_db
def test_material_not_worked_by_the_process_says_so(api_client):
    response = recommend(api_client, {"order_context": {**ORDER_CONTEXT, "material": "fr4"}})

    assert assert_field_error(response, "order_context.material") == ["fr4 is not worked by cnc_machining."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"order_context": ORDER_CONTEXT, "surprise": 1}, "surprise"),
        ({"order_context": ORDER_CONTEXT, "optimization_goal": "cheapest"}, "optimization_goal"),
        ({"order_context": ORDER_CONTEXT, "use_ab_testing": "maybe"}, "use_ab_testing"),
        ({"order_context": ORDER_CONTEXT, "customer_preferences": None}, "customer_preferences"),
        ({"order_context": None}, "order_context"),
        ({"order_context": "cnc please"}, "order_context.non_field_errors"),
        ({"order_context": [ORDER_CONTEXT]}, "order_context.non_field_errors"),
    ],
    ids=[
        "unknown-top-level-field",
        "unknown-goal",
        "ab-testing-not-a-boolean",
        "preferences-null",
        "order-context-null",
        "order-context-a-string",
        "order-context-a-list",
    ],
)
def test_invalid_top_level_field_is_rejected_naming_it(api_client, varied_catalog, body, field):
    response = recommend(api_client, body)

    assert_field_error(response, field)
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
def test_unknown_top_level_field_is_named_even_when_the_rest_is_valid(api_client, varied_catalog):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT, "order_contxt": ORDER_CONTEXT})

    assert assert_field_error(response, "order_contxt") == ["Unknown field."]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "kind"), [([ORDER_CONTEXT], "list"), ("order", "str"), (42, "int")])
def test_body_that_is_not_an_object_is_rejected(api_client, body, kind):
    response = api_client.post(URL, data=json.dumps(body), content_type="application/json")

    messages = assert_field_error(response, "non_field_errors")
    assert messages == [f"Invalid data. Expected a dictionary, but got {kind}."]
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ['{"order_context": {', "{'order_context': {}}", "order_context=1"])
def test_malformed_json_is_a_400_in_the_error_shape(api_client, raw):
    response = api_client.post(URL, data=raw, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("JSON parse error - ")
    assert body["extra"] == {}
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_raw_json_with_a_non_finite_literal_is_a_400_in_the_error_shape(api_client, varied_catalog, literal):
    raw = json.dumps({"order_context": {**ORDER_CONTEXT, "estimated_value": "@@"}}).replace('"@@"', literal)
    assert f'"estimated_value": {literal},' in raw

    response = api_client.post(URL, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "message": f"JSON parse error - Out of range float values are not JSON compliant: '{literal}'",
        "extra": {},
    }
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
def test_raw_json_number_that_overflows_to_infinity_is_rejected_naming_the_field(api_client, varied_catalog):
    raw = json.dumps({"order_context": {**ORDER_CONTEXT, "estimated_value": "@@"}}).replace('"@@"', "1e400")

    response = api_client.post(URL, data=raw, content_type="application/json")

    assert_field_error(response, "order_context.estimated_value")
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"order_context": ORDER_CONTEXT, "customer_preferences": {"excluded_manufacturer_ids": list(range(1, 60_000))}},
        {"order_context": ORDER_CONTEXT, "padding": "x" * (256 * 1024 + 1)},
    ],
    ids=["huge-excluded-list", "padding-field"],
)
def test_body_over_256_kib_is_a_400_in_the_error_shape(api_client, varied_catalog, body):
    assert len(json.dumps(body)) > 256 * 1024

    response = recommend(api_client, body)

    assert response.status_code == 400
    assert response.json() == {"message": "Request body too large.", "extra": {}}
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
def test_body_just_under_256_kib_is_parsed_and_validated(api_client, varied_catalog):
    body = {"order_context": ORDER_CONTEXT, "padding": ""}
    body["padding"] = "x" * (256 * 1024 - len(json.dumps(body)) - 10)

    response = recommend(api_client, body)

    assert assert_field_error(response, "padding") == ["Unknown field."]


# --- authentication and permission -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_caller_is_told_to_authenticate(anonymous_client, varied_catalog):
    response = recommend(anonymous_client, {"order_context": ORDER_CONTEXT})

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}
    assert response.headers["WWW-Authenticate"] == "Token"
    assert not RecommendationSession.objects.exists()


@pytest.mark.django_db
def test_invalid_token_is_a_401_in_the_error_shape(varied_catalog):
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = recommend(forged, {"order_context": ORDER_CONTEXT})

    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}
    assert response.json()["extra"] == {}


@pytest.mark.django_db
def test_staff_user_without_a_customer_account_is_forbidden(staff_client, varied_catalog):
    response = recommend(staff_client, {"order_context": ORDER_CONTEXT})

    assert response.status_code == 403
    assert response.json() == {"message": "Only customer accounts receive recommendations.", "extra": {}}
    assert not RecommendationSession.objects.exists()


# --- nothing eligible ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "manufacturer",
    [
        {"is_active": False},
        {"processes": ["casting"]},
        {"monthly_capacity": 1_000, "current_load": 950},
        {"min_order_value": 50_000},
    ],
    ids=["inactive", "other-process", "no-capacity", "order-below-minimum-value"],
)
def test_no_eligible_manufacturer_is_an_empty_list_that_says_why(api_client, manufacturer):
    ManufacturerFactory(**manufacturer)

    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["recommendations"] == []
    assert body["personalization_metadata"]["eligible_candidates"] == 0
    assert body["personalization_metadata"]["optimization_reasoning"] == f"{NEW_CUSTOMER_REASON} {NO_ELIGIBLE_REASON})."
    session = RecommendationSession.objects.get()
    assert session.candidates == []
    assert session.eligible_count == 0


@pytest.mark.django_db
def test_no_eligible_manufacturer_because_of_your_filters_says_so(api_client):
    ManufacturerFactory(avg_lead_time_days=30)

    response = recommend(
        api_client, {"order_context": ORDER_CONTEXT, "customer_preferences": {"max_lead_time_days": 5}}
    )

    body = response.json()
    assert body["recommendations"] == []
    assert body["personalization_metadata"]["optimization_reasoning"].endswith(f"{NO_ELIGIBLE_REASON}, your filters).")


@pytest.mark.django_db
def test_empty_catalog_is_an_empty_list(api_client):
    response = recommend(api_client, {"order_context": ORDER_CONTEXT})

    assert response.status_code == 200, response.json()
    assert response.json()["recommendations"] == []
    assert NO_ELIGIBLE_REASON in response.json()["personalization_metadata"]["optimization_reasoning"]


# --- the catalog cache follows manufacturer updates ------------------------------------------------------------


@pytest.mark.django_db
def test_deactivated_manufacturer_disappears_from_the_next_recommendation(api_client):
    leaving = ManufacturerFactory(quality_score=0.99)
    staying = ManufacturerFactory()
    assert ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT})) == [leaving.id, staying.id]

    manufacturer_update(manufacturer=leaving, data={"is_active": False})

    assert ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT})) == [staying.id]


@pytest.mark.django_db
def test_changed_quality_is_scored_in_the_next_recommendation(api_client):
    first = ManufacturerFactory(quality_score=0.95)
    second = ManufacturerFactory(quality_score=0.6)
    body = {"order_context": ORDER_CONTEXT, "optimization_goal": "quality"}
    assert ranked_ids(recommend(api_client, body)) == [first.id, second.id]

    manufacturer_update(manufacturer=second, data={"quality_score": 1.0})

    response = recommend(api_client, body)
    assert ranked_ids(response) == [second.id, first.id]
    assert response.json()["recommendations"][0]["factor_values"]["quality_fit"] == 1.0


@pytest.mark.django_db
def test_changed_capabilities_are_used_in_the_next_recommendation(api_client):
    maker = ManufacturerFactory()
    body = {"order_context": ORDER_CONTEXT, "customer_preferences": {"required_certifications": ["itar"]}}
    assert ranked_ids(recommend(api_client, body)) == []

    manufacturer_update(manufacturer=maker, data={"certifications": ["itar"]})
    assert ranked_ids(recommend(api_client, body)) == [maker.id]

    manufacturer_update(manufacturer=maker, data={"processes": ["casting"]})
    assert ranked_ids(recommend(api_client, body)) == []


@pytest.mark.django_db
def test_new_manufacturer_appears_in_the_next_recommendation(api_client):
    existing = ManufacturerFactory()
    assert ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT})) == [existing.id]

    newcomer = ManufacturerFactory(quality_score=0.99)

    assert ranked_ids(recommend(api_client, {"order_context": ORDER_CONTEXT})) == [newcomer.id, existing.id]
