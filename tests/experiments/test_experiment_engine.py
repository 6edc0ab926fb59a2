"""Experiments in the engine: validation, lifecycle, sticky assignment, exposures and conversions once."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.errors import DomainError
from core.services import product_manager_group_ensure
from experiments.models import ABTestExperiment, Assignment, ConversionEvent, ExposureEvent, Variant
from experiments.services import (
    experiment_counters_reconcile,
    experiment_coverage_set,
    experiment_create,
    experiment_pause,
    experiment_start,
    experiment_stop,
    experiment_variant_for,
    exposure_record,
)
from personalization.services import recommendation_create, session_outcome_record
from tests.api_helpers import ORDER
from tests.concurrency import run_concurrently
from tests.factories import CustomerAccountFactory, ManufacturerFactory, UserFactory


def variants(*configs, weights=None):
    weights = weights or [1 / len(configs)] * len(configs)
    return [
        {"key": f"v{i}", "weight": w, "is_control": i == 0, "config": config}
        for i, (config, w) in enumerate(zip(configs, weights))
    ]


BALANCED = {"strategy": "balanced"}
QUALITY = {"strategy": "quality_focused", "parameters": {"exploration_temperature": 0.0}}


def running(**options) -> ABTestExperiment:
    experiment = experiment_create(
        name=options.pop("name", "strategies"), variants=options.pop("variants", variants(BALANCED, QUALITY)), **options
    )
    return experiment_start(experiment=experiment)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: variants(BALANCED), "variants"),
        (lambda: variants(BALANCED, QUALITY, weights=[0.5, 0.6]), "variants"),
        (lambda: variants(BALANCED, {"strategy": "fastest"}), "variants.1.config.strategy"),
        (
            lambda: variants(BALANCED, {"strategy": "balanced", "parameters": {"depth": 2}}),
            "variants.1.config.parameters.depth",
        ),
        (
            lambda: variants(BALANCED, {"strategy": "balanced", "parameters": {"exploration_temperature": 5}}),
            "variants.1.config.parameters.exploration_temperature",
        ),
        (lambda: [{**v, "is_control": True} for v in variants(BALANCED, QUALITY)], "variants"),
    ],
)
def test_an_invalid_experiment_is_refused_naming_the_field(build, field):
    with pytest.raises(DomainError) as error:
        experiment_create(name="bad", variants=build())

    assert field in error.value.extra["fields"]
    assert not ABTestExperiment.objects.exists()


@pytest.mark.django_db
def test_targeting_must_name_known_segments():
    with pytest.raises(DomainError) as error:
        experiment_create(name="bad", variants=variants(BALANCED, QUALITY), targeting={"segments": ["whales"]})

    assert "targeting.segments" in error.value.extra["fields"]


@pytest.mark.django_db
def test_the_lifecycle_allows_only_its_transitions():
    experiment = experiment_create(name="life", variants=variants(BALANCED, QUALITY))

    experiment = experiment_start(experiment=experiment)
    assert experiment.status == "running"
    assert experiment.start_date is not None
    with pytest.raises(DomainError, match="cannot become running"):
        experiment_start(experiment=experiment)
    experiment = experiment_pause(experiment=experiment)
    experiment = experiment_start(experiment=experiment)
    experiment = experiment_stop(experiment=experiment, reason="enough")
    assert (experiment.status, experiment.status_reason) == ("stopped", "enough")
    assert experiment.actual_end_date is not None
    with pytest.raises(DomainError):
        experiment_start(experiment=experiment)


@pytest.mark.django_db
def test_coverage_of_a_started_experiment_may_only_grow():
    experiment = running(coverage=0.5)

    experiment_coverage_set(experiment=experiment, coverage=0.8)
    with pytest.raises(DomainError, match="only grow"):
        experiment_coverage_set(experiment=experiment, coverage=0.3)
    assert ABTestExperiment.objects.get().coverage == 0.8


@pytest.mark.django_db
def test_a_targeted_customer_gets_the_variants_strategy_and_counts_once():
    ManufacturerFactory(quality_score=0.95, cost_index=1.9)
    ManufacturerFactory(quality_score=0.5, cost_index=0.6)
    customer = CustomerAccountFactory()
    running(variants=variants(QUALITY, QUALITY))  # both variants rank by quality_focused

    first = recommendation_create(customer=customer, order_context=ORDER)
    second = recommendation_create(customer=customer, order_context=ORDER)

    assert first.session.ab_test_active
    assert second.session.ab_test_active
    assert first.session.algorithm_used == "quality_focused"
    assert first.session.variant_id == second.session.variant_id  # sticky
    assert first.items[0].pattern_boost == 0.0  # a base strategy alone, no personal boosts
    assert "Experiment 'strategies' serves variant" in first.session.optimization_reasoning
    assert ExposureEvent.objects.count() == 1
    assert Assignment.objects.count() == 1
    assert sum(Variant.objects.values_list("participants", flat=True)) == 1


@pytest.mark.django_db
def test_customers_outside_the_targeting_or_opting_out_are_not_in_the_experiment():
    ManufacturerFactory()
    other_segment = CustomerAccountFactory(segment="cost_sensitive")
    running(targeting={"segments": ["quality_critical"]})

    outside = recommendation_create(customer=other_segment, order_context=ORDER)
    inside_but_opting_out = recommendation_create(
        customer=CustomerAccountFactory(segment="quality_critical"), order_context=ORDER, use_ab_testing=False
    )

    assert not outside.session.ab_test_active
    assert not inside_but_opting_out.session.ab_test_active
    assert not ExposureEvent.objects.exists()


@pytest.mark.django_db
def test_assignment_follows_the_weights_and_a_ramp_moves_nobody():
    experiment = running(coverage=0.3, variants=variants(BALANCED, QUALITY, weights=[0.5, 0.5]))
    customers = CustomerAccountFactory.create_batch(400)
    before = {c.pk: experiment_variant_for(customer=c, order=ORDER) for c in customers}
    share = sum(d is not None for d in before.values()) / len(customers)

    experiment_coverage_set(experiment=experiment, coverage=1.0)
    after = {c.pk: experiment_variant_for(customer=c, order=ORDER) for c in customers}

    assert 0.22 < share < 0.38
    assert all(after[pk].variant_id == d.variant_id for pk, d in before.items() if d is not None)
    assert all(d is not None for d in after.values())
    in_quality = sum(d.variant_key == "v1" for d in after.values())
    assert 160 < in_quality < 240


@pytest.mark.django_db
def test_a_conversion_is_attributed_through_the_session_once_per_customer():
    maker = ManufacturerFactory()
    customer = CustomerAccountFactory()
    running()
    sessions = [recommendation_create(customer=customer, order_context=ORDER).session for _ in range(2)]

    for i, session in enumerate(sessions):
        session_outcome_record(
            session=session,
            event_id=f"o{i}",
            manufacturer_id=maker.id,
            converted=True,
            contract_value=Decimal("1000.00"),
        )

    variant = Variant.objects.get(pk=sessions[0].variant_id)
    assert (variant.participants, variant.conversions) == (1, 1)
    assert variant.revenue_sum == 1000.0
    assert ConversionEvent.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixty_four_concurrent_exposures_of_one_customer_count_once():
    experiment = running()
    customer = CustomerAccountFactory()
    decision = experiment_variant_for(customer=customer, order=ORDER)

    results = run_concurrently(
        [lambda: exposure_record(decision=decision, customer=customer, session_id=None) for _ in range(64)]
    )

    assert results.count(True) == 1
    assert ExposureEvent.objects.filter(experiment=experiment).count() == 1
    assert Variant.objects.get(pk=decision.variant_id).participants == 1


@pytest.mark.django_db
def test_a_product_manager_starts_and_stops_an_experiment_from_the_admin(client):
    manager = UserFactory(is_staff=True)
    manager.groups.add(product_manager_group_ensure())
    client.force_login(manager)
    experiment = experiment_create(name="from admin", variants=variants(BALANCED, QUALITY))
    url = reverse("admin:experiments_abtestexperiment_changelist")

    listing = client.get(url)
    client.post(url, {"action": "experiment_start", "_selected_action": [experiment.pk]})
    started = ABTestExperiment.objects.get().status
    client.post(url, {"action": "experiment_stop", "_selected_action": [experiment.pk]})

    assert listing.status_code == 200
    assert "from admin" in listing.content.decode()
    assert started == "running"
    assert ABTestExperiment.objects.get().status == "stopped"
    assert client.get(reverse("admin:experiments_abtestexperiment_change", args=[experiment.pk])).status_code == 200


@pytest.mark.django_db
def test_reconciliation_sets_the_counters_from_the_event_rows_and_is_idempotent():
    maker = ManufacturerFactory()
    experiment = running()
    for customer in CustomerAccountFactory.create_batch(3):
        session = recommendation_create(customer=customer, order_context=ORDER).session
        session_outcome_record(
            session=session,
            event_id=f"o{customer.pk}",
            manufacturer_id=maker.id,
            converted=True,
            contract_value=Decimal("10.00"),
        )
    Variant.objects.filter(experiment=experiment).update(participants=99, conversions=0, revenue_sum=0.0)

    changed = experiment_counters_reconcile(experiment=experiment)
    again = experiment_counters_reconcile(experiment=experiment)

    variants = list(Variant.objects.filter(experiment=experiment))
    assert sum(v.participants for v in variants) == ExposureEvent.objects.count() == 3
    assert sum(v.conversions for v in variants) == ConversionEvent.objects.count() == 3
    assert sum(v.revenue_sum for v in variants) == pytest.approx(30.0)
    assert set(changed) == {v.key for v in variants}
    assert again == {}


@pytest.mark.django_db
def test_a_rating_reported_for_a_session_counts_toward_its_variants_satisfaction_guardrail():
    maker = ManufacturerFactory()
    customer = CustomerAccountFactory()
    running(guardrail_metrics=["satisfaction"])
    session = recommendation_create(customer=customer, order_context=ORDER).session

    session_outcome_record(
        session=session, event_id="c", manufacturer_id=maker.id, converted=True, contract_value=Decimal("100.00")
    )
    session_outcome_record(session=session, event_id="r", manufacturer_id=maker.id, satisfaction=4)
    session_outcome_record(session=session, event_id="r", manufacturer_id=maker.id, satisfaction=4)  # a repeat

    variant = Variant.objects.get(pk=session.variant_id)
    assert (variant.ratings, variant.satisfaction_sum, variant.satisfaction_sum_squares) == (1, 4.0, 16.0)
