"""The experiments admin: the create/edit form with the services' validation beside each field, the actions,
the list at a glance and the results page with its charts (inline SVG, nothing fetched from outside)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.services import product_manager_group_ensure
from experiments.analysis import experiment_analyze
from experiments.models import ABTestExperiment, ExperimentSnapshot, Variant
from experiments.services import experiment_create, experiment_start
from tests.experiments.test_experiment_engine import BALANCED, QUALITY, variants
from tests.factories import UserFactory

ADD = "admin:experiments_abtestexperiment_add"
CHANGELIST = "admin:experiments_abtestexperiment_changelist"


@pytest.fixture
def manager_client(client, db):
    user = UserFactory(is_staff=True)
    user.groups.add(product_manager_group_ensure())
    client.force_login(user)
    return client


def form_data(**overrides) -> dict:
    data = {
        "name": "Personalized vs balanced",
        "description": "",
        "experiment_type": "ab_test",
        "analysis_method": "sequential",
        "cuped": "on",
        "coverage": "1.0",
        "namespace": "",
        "namespace_start": "0",
        "namespace_end": "1",
        "planned_end_date": "",
        "minimum_sample_size": "100",
        "minimum_effect_size": "0.05",
        "confidence_level": "0.95",
        "minimum_runtime_days": "7",
        "min_order_value": "",
        "max_order_value": "",
        "variants-TOTAL_FORMS": "3",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "20",
        "variants-0-key": "control",
        "variants-0-name": "Control",
        "variants-0-is_control": "on",
        "variants-0-weight": "0.5",
        "variants-0-strategy": "balanced",
        "variants-1-key": "treatment",
        "variants-1-name": "Treatment",
        "variants-1-weight": "0.5",
        "variants-1-strategy": "personalized",
        "variants-1-exploration_temperature": "0.05",
        "variants-2-key": "",
        "variants-2-weight": "",
        "variants-2-strategy": "",  # a blank row: what the browser sends for an unused extra row
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_product_manager_creates_a_draft_from_the_form(manager_client):
    page = manager_client.get(reverse(ADD))
    response = manager_client.post(reverse(ADD), form_data(segments=["quality_critical"], regions=["western_europe"]))

    experiment = ABTestExperiment.objects.get()
    assert page.status_code == 200
    assert response.status_code == 302
    assert response.url == reverse("admin:experiments_abtestexperiment_change", args=[experiment.pk])
    assert experiment.status == "draft"
    assert experiment.targeting == {"segments": ["quality_critical"], "regions": ["western_europe"]}
    assert [(v.key, v.is_control, v.config) for v in experiment.variants.all()] == [
        ("control", True, {"strategy": "balanced", "parameters": {}}),
        ("treatment", False, {"strategy": "personalized", "parameters": {"exploration_temperature": 0.05}}),
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"variants-1-weight": "0.6"}, "sum to 1"),
        ({"variants-1-is_control": "on"}, "Exactly one variant is the control."),
        (
            {f"variants-1-{name}": "" for name in ("key", "name", "weight", "strategy", "exploration_temperature")},
            "An experiment needs at least two variants.",
        ),
        ({"variants-1-strategy": "magic"}, "Select a valid choice."),
        ({"variants-1-exploration_temperature": "0.9"}, "less than or equal to 0.2"),
        ({"planned_end_date": "2001-01-01T00:00"}, "The planned end date is in the past."),
        ({"min_order_value": "500", "max_order_value": "100"}, "min_order_value is above max_order_value."),
        ({"coverage": "1.5"}, "less than or equal to 1"),
    ],
)
def test_the_form_shows_why_an_experiment_is_refused_and_creates_nothing(manager_client, overrides, message):
    response = manager_client.post(reverse(ADD), form_data(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "Please correct the errors below." in response.content.decode()
    assert not ABTestExperiment.objects.exists()


def test_a_name_taken_is_shown_beside_the_name(manager_client):
    experiment_create(name="Personalized vs balanced", variants=variants(BALANCED, QUALITY))

    response = manager_client.post(reverse(ADD), form_data())

    assert response.context["form"].errors == {"name": ["An experiment of this name exists."]}


def test_a_running_experiments_form_changes_only_the_coverage_and_description(manager_client):
    experiment = experiment_start(
        experiment=experiment_create(name="running", coverage=0.5, variants=variants(BALANCED, QUALITY))
    )
    url = reverse("admin:experiments_abtestexperiment_change", args=[experiment.pk])

    page = manager_client.get(url)
    data = {name: value for name, value in page.context["form"].initial.items() if value is not None}
    data.update({"name": "renamed", "coverage": "0.9", "description": "ramp", "variants-TOTAL_FORMS": "0"})
    data.update({"variants-INITIAL_FORMS": "0", "variants-MIN_NUM_FORMS": "2", "variants-MAX_NUM_FORMS": "20"})
    response = manager_client.post(url, data)
    shrink = manager_client.post(url, {**data, "coverage": "0.1"})

    experiment.refresh_from_db()
    assert "configuration is frozen" in page.content.decode()
    assert response.status_code == 302
    assert (experiment.name, experiment.coverage, experiment.description) == ("running", 0.9, "ramp")  # name frozen
    assert shrink.status_code == 200
    assert "Once started, coverage may only grow." in shrink.content.decode()
    assert Variant.objects.filter(experiment=experiment).count() == 2


def test_the_actions_analyze_and_duplicate(manager_client):
    experiment = experiment_start(experiment=experiment_create(name="acted on", variants=variants(BALANCED, QUALITY)))
    url = reverse(CHANGELIST)

    manager_client.post(url, {"action": "analyze_now", "_selected_action": [experiment.pk]})
    manager_client.post(url, {"action": "duplicate", "_selected_action": [experiment.pk]})

    assert ExperimentSnapshot.objects.filter(experiment=experiment).count() == 1
    assert ABTestExperiment.objects.get(name="acted on (copy)").status == "draft"


def test_the_list_shows_lift_significance_and_winner_at_a_glance(manager_client):
    experiment = experiment_start(
        experiment=experiment_create(name="at a glance", minimum_sample_size=100, variants=variants(BALANCED, QUALITY))
    )
    control, treatment = experiment.variants.order_by("position")
    Variant.objects.filter(pk=control.pk).update(participants=20_000, conversions=2_000)
    Variant.objects.filter(pk=treatment.pk).update(participants=20_000, conversions=2_600)
    experiment_analyze(experiment=experiment)

    body = manager_client.get(reverse(CHANGELIST)).content.decode()

    assert "+30.0%" in body
    assert "significant (p = " in body
    assert ">v1<" in body  # the winner column


def test_the_results_page_draws_its_charts_inline(manager_client):
    experiment = experiment_start(
        experiment=experiment_create(
            name="bandit results", experiment_type="bandit", variants=variants(BALANCED, QUALITY)
        )
    )
    control, treatment = experiment.variants.order_by("position")
    for n in (100, 200):
        Variant.objects.filter(pk=control.pk).update(participants=n, conversions=n // 10)
        Variant.objects.filter(pk=treatment.pk).update(participants=n, conversions=n // 8)
        experiment_analyze(experiment=experiment)
    ExperimentSnapshot.objects.filter(experiment=experiment).update(created_at=timezone.now() - timedelta(hours=1))

    response = manager_client.get(reverse("admin:experiments_results", args=[experiment.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    for chart in ("chart-intervals", "chart-conversion", "chart-weights"):
        assert f'id="{chart}"><svg' in body
    assert "<polyline" in body or "<circle" in body
    assert "http://" not in body.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere
    assert "https://" not in body
