"""Loading a simulated marketplace into the database: counts, hidden truth, idempotency."""

import pytest
from django.core.management import CommandError, call_command

from marketplace.models import CustomerAccount, Manufacturer, MatchOutcome, Order
from marketplace.simulation import WorldConfig, build_world, simulate_history
from marketplace.truth.models import CustomerTruthRecord, OrderTruth, SimulatedManufacturer, SimulatedWorld
from marketplace.vocabulary import FACTORS
from personalization.models import RecommendationSession

SMALL = ["--manufacturers", "60", "--customers", "25", "--days", "60", "--seed", "5", "--no-progress"]


@pytest.mark.django_db
def test_simulate_marketplace_loads_the_world_and_its_history():
    call_command("simulate_marketplace", *SMALL)

    world = build_world(WorldConfig(n_manufacturers=60, n_customers=25, days=60, seed=5))
    history = simulate_history(world)
    chosen = [o for o in history.orders if o.response.chosen_position is not None]
    assert Manufacturer.objects.count() == 60
    assert CustomerAccount.objects.count() == 25
    assert Order.objects.count() == len(history.orders)
    assert RecommendationSession.objects.filter(source="simulation").count() == len(history.orders)
    assert MatchOutcome.objects.count() == len(chosen)
    assert MatchOutcome.objects.filter(converted=True).count() == sum(bool(o.response.converted) for o in chosen)


@pytest.mark.django_db
def test_loaded_rows_keep_the_simulated_values():
    call_command("simulate_marketplace", *SMALL)
    world = build_world(WorldConfig(n_manufacturers=60, n_customers=25, days=60, seed=5))

    for link in SimulatedManufacturer.objects.select_related("manufacturer")[:10]:
        profile = world.manufacturers[link.index]
        row = link.manufacturer
        assert (row.name, row.region, row.quality_score, row.cost_index) == (
            profile.name,
            profile.region,
            profile.quality_score,
            profile.cost_index,
        )
        assert sorted(row.processes.values_list("code", flat=True)) == sorted(profile.processes)
    for truth in CustomerTruthRecord.objects.all()[:10]:
        assert truth.true_weights == dict(
            zip(FACTORS, world.customers[truth.index].true_weights)
        )  # jsonb: no key order


@pytest.mark.django_db
def test_every_session_shows_manufacturers_and_its_outcome_is_one_of_them():
    call_command("simulate_marketplace", *SMALL)

    for outcome in MatchOutcome.objects.select_related("order")[:50]:
        session = RecommendationSession.objects.get(order=outcome.order)
        shown = [c["manufacturer_id"] for c in session.candidates]
        assert outcome.manufacturer_id in shown
        assert 0 < session.propensity <= 1
    assert OrderTruth.objects.count() == Order.objects.count()


@pytest.mark.django_db
def test_outcomes_respect_the_order_lifecycle():
    call_command("simulate_marketplace", *SMALL)

    assert not MatchOutcome.objects.filter(converted=False).exclude(order__status="cancelled").exists()
    assert not MatchOutcome.objects.filter(satisfaction__isnull=False).exclude(order__status="delivered").exists()
    assert not Order.objects.filter(status="delivered", delivered_at__isnull=True).exists()


@pytest.mark.django_db
def test_running_the_command_again_with_the_same_options_changes_nothing(capsys):
    call_command("simulate_marketplace", *SMALL)
    counts = (Manufacturer.objects.count(), Order.objects.count(), SimulatedWorld.objects.count())

    call_command("simulate_marketplace", *SMALL)

    assert (Manufacturer.objects.count(), Order.objects.count(), SimulatedWorld.objects.count()) == counts
    assert "already loaded" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_different_world_needs_reset_and_reset_replaces_it():
    call_command("simulate_marketplace", *SMALL)
    other = ["--manufacturers", "30", "--customers", "10", "--days", "30", "--seed", "6", "--no-progress"]

    with pytest.raises(CommandError, match="--reset"):
        call_command("simulate_marketplace", *other)
    call_command("simulate_marketplace", *other, "--reset")

    assert Manufacturer.objects.count() == 30
    assert CustomerAccount.objects.count() == 10
    assert SimulatedWorld.objects.get().seed == 6


@pytest.mark.django_db
def test_invalid_world_options_are_refused():
    with pytest.raises(CommandError, match="at least one"):
        call_command("simulate_marketplace", "--customers", "0", "--no-progress")
