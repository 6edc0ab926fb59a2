import dataclasses
import json
import random
import uuid
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from django.utils import timezone

from core.errors import DomainError
from marketplace import scoring
from marketplace.selectors import catalog_get
from marketplace.services import manufacturer_update
from marketplace.vocabulary import FACTORS
from personalization import learning, policy
from personalization.api.serializers import RecommendationResponseSerializer, recommendation_response_data
from personalization.models import CustomerPersonalizationProfile, ExplanationPreference, RecommendationSession
from personalization.selectors import RANKING_PROFILE_FIELDS, customer_with_profile_get, profile_view
from personalization.services import (
    customer_order_get,
    order_context_from_order,
    profile_get_or_create,
    recommendation_create,
)
from personalization.services import recommendations as recommendations_module
from personalization.services.profiles import state_from_json
from tests.api_helpers import ORDER
from tests.factories import ManufacturerFactory, OrderFactory

SEGMENT_WEIGHTS = scoring.STRATEGIES["balanced"]  # the default prior of a segment with no fitted preferences


def fix_session_ids(monkeypatch, *ids: uuid.UUID) -> None:
    """The next sessions get these ids (by default the exploration is seeded from the session id)."""
    queue = list(ids)
    monkeypatch.setattr(recommendations_module, "uuid", SimpleNamespace(uuid4=lambda: queue.pop(0)))


def seeded_uuid(generator: random.Random) -> uuid.UUID:
    return uuid.UUID(int=generator.getrandbits(128), version=4)


@pytest.fixture
def twelve_manufacturers(db):
    return [ManufacturerFactory(quality_score=0.5 + 0.04 * i, cost_index=0.6 + 0.1 * i) for i in range(12)]


def profile_with(customer, **fields) -> CustomerPersonalizationProfile:
    profile = profile_get_or_create(customer=customer)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.save()
    return profile


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
            "region": i.region,
            "features": i.features,
            "contributions": i.contributions,
            "pattern_boost": i.pattern_boost,
            "position_propensity": 1.0,
        }
        for i in result.items
    ]
    assert session.eligible_count == 3
    expected = (1 - policy.GOAL_TILT) * SEGMENT_WEIGHTS + policy.GOAL_TILT * scoring.STRATEGIES["cost_focused"]
    assert session.weights == pytest.approx(dict(zip(FACTORS, expected)), abs=1e-6)
    assert session.algorithm_used == "segment_prior"
    assert session.customer_class == "new"
    assert session.log_propensity == 0.0
    assert session.exploration_temperature == policy.TEMPERATURE_MAX
    assert session.catalog_version == catalog_get().version
    for item in result.items:
        assert item.score == pytest.approx(sum(item.contributions.values()) + item.pattern_boost, abs=1e-5)


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


# --- the personalized pipeline ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fresh_customer_gets_a_profile_from_its_segment_prior_and_is_ranked_as_new(customer):
    ManufacturerFactory()

    result = recommendation_create(customer=customer, order_context=ORDER)

    profile = CustomerPersonalizationProfile.objects.get(customer=customer)
    assert profile.personal_weights == pytest.approx(dict(zip(FACTORS, SEGMENT_WEIGHTS)), abs=1e-6)
    assert profile.personal_confidence == 0.0
    assert profile.weights_version == 0
    session = result.session
    assert session.algorithm_used == "segment_prior"
    assert session.customer_class == "new"
    assert session.personalization_level == 0.0
    assert session.weights_version == "profile:v0"
    assert session.weights == pytest.approx(dict(zip(FACTORS, SEGMENT_WEIGHTS)), abs=1e-6)


@pytest.mark.django_db
def test_an_established_customer_is_ranked_by_its_personal_weights_and_explored_less(customer):
    ManufacturerFactory()
    learnt = dict(profile_get_or_create(customer=customer).preference_state)
    mean = state_from_json(learnt).mean_array
    mean[: learning.N_FACTORS] = np.log([2.0, 10.0, 1.0, 5.0, 1.0, 1.0])  # a customer who learnt to value quality
    profile_with(
        customer,
        preference_state={**learnt, "mean": mean.tolist()},
        personal_confidence=0.8,
        total_choices=30,
        weights_version=30,
        last_interaction_at=timezone.now(),
    )

    result = recommendation_create(customer=customer, order_context=ORDER)

    session = result.session
    assert session.algorithm_used == "personalized"
    assert session.customer_class == "established"
    assert session.personalization_level == 0.8
    assert session.weights_version == "profile:v30"
    assert session.weights == pytest.approx(dict(zip(FACTORS, np.array([2, 10, 1, 5, 1, 1]) / 20)), abs=1e-6)
    temperature = policy.TEMPERATURE_MIN + (policy.TEMPERATURE_MAX - policy.TEMPERATURE_MIN) * 0.2
    assert session.exploration_temperature == pytest.approx(temperature)
    assert session.optimization_reasoning == "Personal weights learnt from your choices (30 choices, confidence 0.80)."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"recent_satisfaction": [4, 2], "average_satisfaction": 3.0}, "the last rating was 2 of 5"),
        ({"last_interaction_at_days_ago": 90}, "no activity for 90 days"),
    ],
    ids=["low-rating", "inactive"],
)
def test_an_at_risk_customer_gets_the_retention_focus_at_minimal_exploration(customer, fields, reason):
    ManufacturerFactory()
    fields = dict(fields)
    days = fields.pop("last_interaction_at_days_ago", 1)
    profile_with(
        customer,
        personal_confidence=0.9,
        total_choices=30,
        last_interaction_at=timezone.now() - timedelta(days=days),
        **fields,
    )

    result = recommendation_create(customer=customer, order_context=ORDER)

    session = result.session
    assert session.algorithm_used == "retention_focus"
    assert session.customer_class == "at_risk"
    assert session.exploration_temperature == policy.TEMPERATURE_MIN
    assert session.personalization_level == pytest.approx(1 - policy.RETENTION_TILT)
    expected = (1 - policy.RETENTION_TILT) * SEGMENT_WEIGHTS + policy.RETENTION_TILT * policy.RETENTION_WEIGHTS
    assert session.weights == pytest.approx(dict(zip(FACTORS, expected)), abs=1e-6)
    assert session.optimization_reasoning.startswith(f"Retention focus ({reason}): ")


@pytest.mark.django_db
def test_an_order_beyond_the_customers_complexity_comfort_weighs_quality_reliability_and_capability_more(customer):
    ManufacturerFactory()
    order = dataclasses.replace(ORDER, complexity_level="highly_complex")  # 1.0 against a comfort of 0.5

    result = recommendation_create(customer=customer, order_context=order)

    expected = (1 - policy.COMPLEXITY_TILT) * SEGMENT_WEIGHTS + policy.COMPLEXITY_TILT * policy.COMPLEXITY_WEIGHTS
    assert result.session.weights == pytest.approx(dict(zip(FACTORS, expected)), abs=1e-6)
    assert "more complex than you usually place" in result.session.optimization_reasoning


@pytest.mark.django_db
def test_a_manufacturer_that_worked_for_the_customer_is_boosted_and_the_boost_is_in_its_score(customer):
    worked = ManufacturerFactory(completed_orders=500)
    other = ManufacturerFactory(completed_orders=500)
    patterns = {"manufacturers": {str(worked.id): {"chosen": 3, "rejected": 0, "successes": 3, "failures": 0}}}
    profile_with(customer, behavior_patterns=patterns, risk_tolerance=1.0)

    result = recommendation_create(customer=customer, order_context=ORDER)

    items = {item.manufacturer_id: item for item in result.items}
    assert items[worked.id].pattern_boost == pytest.approx(policy.SUCCESS_BOOST * 3 / 5, abs=1e-6)
    assert items[other.id].pattern_boost == 0.0
    assert [item.manufacturer_id for item in result.items] == [worked.id, other.id]  # identical but for the record
    for item in result.items:
        assert item.score == pytest.approx(sum(item.contributions.values()) + item.pattern_boost, abs=1e-5)
    assert "Your history adds 0.012." in items[worked.id].explanation


@pytest.mark.django_db
def test_a_risk_averse_customer_sees_the_proven_manufacturer_first(customer):
    newcomer = ManufacturerFactory(completed_orders=0)
    proven = ManufacturerFactory(completed_orders=200)
    profile_with(customer, risk_tolerance=0.0)

    result = recommendation_create(customer=customer, order_context=ORDER)

    assert [item.manufacturer_id for item in result.items] == [proven.id, newcomer.id]
    assert result.items[1].pattern_boost == pytest.approx(-policy.RISK_PENALTY, abs=1e-6)


@pytest.mark.django_db
def test_a_customer_who_prefers_detail_gets_the_breakdown_of_each_score(customer):
    ManufacturerFactory()
    profile_with(customer, explanation_preference=ExplanationPreference.DETAILED)

    result = recommendation_create(customer=customer, order_context=ORDER)

    explanation = result.items[0].explanation
    assert explanation.startswith("Ranked #1 mainly for ")
    assert " Breakdown: " in explanation
    assert all(f"(weight {w:.2f} x value" in explanation for w in SEGMENT_WEIGHTS)


@pytest.mark.django_db
def test_the_same_exploration_seed_shows_the_same_list_and_another_seed_another(customer, twelve_manufacturers):
    first = recommendation_create(customer=customer, order_context=ORDER, limit=12, exploration_seed=11)
    again = recommendation_create(customer=customer, order_context=ORDER, limit=12, exploration_seed=11)
    other = recommendation_create(customer=customer, order_context=ORDER, limit=12, exploration_seed=12)

    assert first.session.id != again.session.id
    assert [i.manufacturer_id for i in again.items] == [i.manufacturer_id for i in first.items]
    assert again.session.candidates == first.session.candidates
    assert again.session.log_propensity == first.session.log_propensity < 0
    assert [i.manufacturer_id for i in other.items] != [i.manufacturer_id for i in first.items]
    top = policy.EXPLOIT_POSITIONS
    assert [i.manufacturer_id for i in other.items][:top] == [i.manufacturer_id for i in first.items][:top]


@pytest.mark.django_db
def test_the_session_log_replays_the_shown_list_by_exploring_its_scores_with_the_seed_drawn_from_its_id(
    customer, twelve_manufacturers, monkeypatch
):
    generator = random.Random(5)
    ids = [seeded_uuid(generator) for _ in range(6)]
    fix_session_ids(monkeypatch, *ids)
    catalog = catalog_get()
    tails = set()
    for session_id in ids:
        session = recommendation_create(customer=customer, order_context=ORDER, limit=12).session
        shown = [c["manufacturer_id"] for c in session.candidates]

        # Every eligible manufacturer was shown, so the log holds every score the exploration drew from.
        logged = {c["manufacturer_id"]: c["score"] for c in session.candidates}
        scores = np.array([logged[int(m)] for m in catalog.ids])
        replay = policy.explore(
            scores, 12, temperature=session.exploration_temperature, rng=np.random.default_rng(session.exploration_seed)
        )

        assert session.id == session_id
        assert session.exploration_seed == session_id.int >> 65  # drawn from the session id
        assert [int(catalog.ids[p]) for p in replay.positions] == shown
        assert list(replay.position_propensities) == pytest.approx(
            [c["position_propensity"] for c in session.candidates], abs=1e-4
        )
        assert replay.log_propensity == pytest.approx(session.log_propensity, abs=1e-3)
        tails.add(tuple(shown[policy.EXPLOIT_POSITIONS :]))
    assert len(tails) > 1  # other ids, other explored lists


def established_profile(customer, manufacturers) -> CustomerPersonalizationProfile:
    """A profile with every field the pipeline reads away from its default."""
    return profile_with(
        customer,
        behavior_patterns={"manufacturers": {str(manufacturers[3].id): {"successes": 3, "failures": 0}}},
        explanation_preference=ExplanationPreference.DETAILED,
        personal_confidence=0.6,
        risk_tolerance=0.2,
        complexity_comfort_level=0.3,
        total_choices=12,
        recent_satisfaction=[5, 2, 2],
        average_satisfaction=3.0,
        last_interaction_at=timezone.now() - timedelta(days=40),
        strategy_performance={"quality_focused": {"sessions": 5, "conversions": 3}},
        churn_risk=0.4,
        weights_version=7,
    )


@pytest.mark.django_db
def test_the_pipeline_reads_its_profile_in_one_statement_and_writes_one_row(
    customer, twelve_manufacturers, django_assert_num_queries, settings
):
    """Its read names the fields it uses (RANKING_PROFILE_FIELDS); touching any other would cost a statement."""
    settings.CATALOG_VERSION_CHECK_SECONDS = 60.0
    established_profile(customer, twelve_manufacturers)
    recommendation_create(customer=customer, order_context=ORDER)  # the catalog is read once per process

    with django_assert_num_queries(2) as captured:
        recommendation_create(customer=customer, order_context=ORDER)

    read, write = (q["sql"] for q in captured.captured_queries)
    assert "personalization_customerpersonalizationprofile" in read
    assert "preference_evolution" not in read
    assert write.startswith('INSERT INTO "personalization_recommendationsession"')


@pytest.mark.django_db
def test_the_pipeline_ranks_from_its_narrow_read_exactly_as_from_the_whole_profile(customer, twelve_manufacturers):
    whole = established_profile(customer, twelve_manufacturers)

    narrow = recommendation_create(customer=customer, order_context=ORDER, exploration_seed=5)
    full = recommendation_create(customer=customer, order_context=ORDER, exploration_seed=5, profile=whole)

    assert narrow.items == full.items
    assert len(narrow.items) == 10
    assert "Breakdown" in narrow.items[0].explanation
    assert any(item.pattern_boost > 0 for item in narrow.items)  # the manufacturer that worked
    logged = ("algorithm_used", "optimization_reasoning", "customer_class", "personalization_level", "weights")
    for name in (*logged, "personal_confidence", "weights_version", "candidates"):
        assert getattr(narrow.session, name) == getattr(full.session, name), name
    assert narrow.session.customer_class == policy.classify(profile_view(whole)).kind == "at_risk"


@pytest.mark.django_db
def test_customer_with_profile_get_reads_what_the_orm_reads(customer, other_customer, staff_user):
    whole = established_profile(customer, [ManufacturerFactory() for _ in range(4)])

    read_customer, profile = customer_with_profile_get(user=customer.user)

    assert read_customer == customer
    assert profile == whole
    assert profile.customer is read_customer
    for field in customer._meta.concrete_fields:
        assert getattr(read_customer, field.attname) == getattr(customer, field.attname), field.name
    for name in RANKING_PROFILE_FIELDS:
        assert getattr(profile, name) == getattr(whole, name), name
    assert profile.get_deferred_fields() == {
        f.attname for f in CustomerPersonalizationProfile._meta.concrete_fields
    } - set(RANKING_PROFILE_FIELDS)
    assert customer_with_profile_get(user=other_customer.user) == (other_customer, None)  # no profile yet
    assert customer_with_profile_get(user=staff_user) == (None, None)  # not a customer
