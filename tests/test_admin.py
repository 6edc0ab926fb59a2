"""The admin a product manager uses: every page of the product's models renders, populated."""

import math

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Heartbeat
from core.services import product_manager_group_ensure
from experiments.models import ABTestExperiment
from experiments.services import experiment_create
from marketplace.models import CustomerAccount
from personalization.models import SegmentPreference
from predictions.models import DriftCheck, Intervention, ModelStatus, PredictiveModel
from tests.factories import UserFactory

EXPERIMENT_VARIANTS = [
    {"key": "control", "weight": 0.5, "is_control": True, "config": {"strategy": "balanced"}},
    {"key": "quality", "weight": 0.5, "config": {"strategy": "quality_focused"}},
]


@pytest.fixture
def product_manager(db):
    user = UserFactory(is_staff=True)
    user.groups.add(product_manager_group_ensure())
    return user


@pytest.mark.django_db
def test_a_product_manager_sees_every_model_page_of_a_loaded_marketplace(client, product_manager):
    call_command("simulate_marketplace", "--manufacturers", "30", "--customers", "10", "--days", "30", "--no-progress")
    client.force_login(product_manager)

    pages = [
        (model._meta.app_label, model._meta.model_name)
        for model in admin.site._registry
        if model._meta.app_label in ("marketplace", "personalization")
    ]
    assert ("marketplace", "manufacturer") in pages
    for app_label, model_name in pages:
        response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
        assert response.status_code == 200, (app_label, model_name)

    response = client.get(reverse("admin:marketplace_manufacturer_changelist"))
    assert "30 manufacturers" in response.content.decode()
    manufacturer_id = response.context["cl"].result_list[0].pk
    assert client.get(reverse("admin:marketplace_manufacturer_change", args=[manufacturer_id])).status_code == 200


@pytest.mark.django_db
def test_the_decision_log_is_read_only_in_the_admin(client, product_manager):
    call_command("simulate_marketplace", "--manufacturers", "20", "--customers", "5", "--days", "20", "--no-progress")
    client.force_login(product_manager)

    response = client.get(reverse("admin:personalization_recommendationsession_add"))

    assert response.status_code == 403


@pytest.mark.django_db
def test_demo_accounts_can_run_twice_and_print_the_logins(capsys):
    call_command("demo_accounts", "--password", "a-long-demo-password")
    call_command("demo_accounts", "--password", "a-long-demo-password")

    out = capsys.readouterr().out
    assert out.count("product manager: pm / a-long-demo-password") == 2
    assert "customer API token:" in out
    assert ABTestExperiment.objects.get().status == "draft"  # one demo experiment, however often it runs


@pytest.mark.django_db
def test_a_segments_prior_shows_its_ranking_weights_not_only_their_logarithms(client):
    log_weights = [math.log(w) for w in (4.0, 2.0, 1.0, 1.0, 1.0, 1.0)]
    row = SegmentPreference.objects.create(
        segment="balanced", prior_mean=log_weights + [0.0] * 8, prior_sd=[1.0] * 14, position_bias=1.0
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("admin:personalization_segmentpreference_change", args=[row.pk])).content.decode()

    assert "cost_fit 0.40, quality_fit 0.20, speed_fit 0.10" in page


OWN_APPS = ("marketplace", "personalization", "experiments", "predictions", "core")  # the simulator's one world aside


def _populate_every_model_page() -> None:
    """At least three rows on every changelist of the product's own models."""
    call_command("simulate_marketplace", "--manufacturers", "30", "--customers", "10", "--days", "30", "--no-progress")
    call_command("personalization_rebuild", "--no-progress")
    for n in range(3):
        Heartbeat.objects.create(name=f"job-{n}", beat_at=timezone.now())
        SegmentPreference.objects.create(segment=f"segment-{n}", prior_mean=[0.0], prior_sd=[1.0], position_bias=1.0)
        experiment_create(name=f"experiment {n}", variants=EXPERIMENT_VARIANTS)
        model = PredictiveModel.objects.create(
            model_type="success",
            version=n + 1,
            status=ModelStatus.VALIDATED,
            name=f"success-v{n + 1}",
            accuracy_metrics={"holdout": {"roc_auc": 0.8}, "baseline": {"roc_auc": 0.5}},
        )
        DriftCheck.objects.create(model=model, score=0.05, band="stable", rows=100)
        Intervention.objects.create(
            customer=CustomerAccount.objects.order_by("pk")[n], kind="churn_alert", churn_risk=0.8, reason="High risk."
        )


@pytest.mark.django_db
def test_no_model_page_reads_the_database_once_per_row(client, monkeypatch):
    """A changelist's queries are the same for one row as for three: a column that follows a relation row by
    row (N + 1 queries) would cost a hundred queries on a full page of a real log."""
    _populate_every_model_page()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    def queries(model_admin, rows: int) -> int:
        monkeypatch.setattr(model_admin, "list_per_page", rows)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(
                reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist")
            )
        assert response.status_code == 200, model_admin
        assert len(response.context["cl"].result_list) == rows, (model_admin, "too few rows to compare")
        return len(captured)

    pages = [model_admin for model, model_admin in admin.site._registry.items() if model._meta.app_label in OWN_APPS]
    assert len(pages) >= 15
    growth = {str(page): queries(page, 3) - queries(page, 1) for page in pages}
    assert growth == dict.fromkeys(growth, 0)
