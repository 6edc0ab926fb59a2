"""The model registry's admin: read-only versions, the actions deploy / roll back / train now (exactly one
deployed version per type, errors as messages), and the status page with its charts (inline SVG, nothing
fetched from outside)."""

import re
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from predictions.ml import artifacts, drift
from predictions.models import DriftCheck, Intervention, ModelStatus, PredictiveModel
from tests.factories import CustomerAccountFactory, UserFactory

CHANGELIST = "admin:predictions_predictivemodel_changelist"
STATUS = "admin:predictions_model_status"
FEATURES = ["order_value", "quality_need", "urgency"]


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def version(version: int, *, model_type: str = "success", status: str = ModelStatus.VALIDATED, **fields):
    """A version with a small real estimator (seeded), its artifact and the drift profile of its training data."""
    rng = np.random.default_rng(version)
    X = rng.normal(size=(300, len(FEATURES)))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    estimator = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    artifact = artifacts.artifact_dump(estimator)
    now = timezone.now()
    defaults = {
        "name": f"{model_type}-v{version}",
        "feature_set": FEATURES,
        "accuracy_metrics": {
            "holdout": {"roc_auc": 0.70 + version / 100, "brier": 0.20 - version / 100},
            "baseline": {"roc_auc": 0.5, "brier": 0.25},
            "holdout_period": [10.0, 20.0],
        },
        "drift_reference": drift.reference_profile(
            {name: X[:, i] for i, name in enumerate(FEATURES)}, reference_scores=estimator.predict_proba(X)[:, 1]
        ),
        "artifact": artifact.data,
        "artifact_sha256": artifact.sha256,
        "library_versions": artifact.versions,
        "training_seconds": 1.5,
        "status_reason": "Validated on the out-of-time holdout.",
        "next_retrain_due": now + timedelta(days=7),
        "deployed_at": now - timedelta(days=version) if status in (ModelStatus.DEPLOYED, ModelStatus.RETIRED) else None,
    }
    return PredictiveModel.objects.create(
        model_type=model_type, version=version, status=status, **{**defaults, **fields}
    )


def act(client, action: str, *models):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [m.pk for m in models]}, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def statuses(model_type: str = "success") -> dict[int, str]:
    return dict(PredictiveModel.objects.filter(model_type=model_type).values_list("version", "status"))


def test_the_status_page_renders_the_deployed_version_history_and_inline_charts(admin_client):
    first = version(1, status=ModelStatus.RETIRED, drift_score=0.05)
    deployed = version(2, status=ModelStatus.DEPLOYED, drift_score=0.12)
    deployed.prediction_accuracy = {"metrics": {"roc_auc": 0.66}, "rows": 42, "measured_at": "2026-01-01"}
    deployed.retrain_check = {"checked_at": "2026-12-06T03:00:00+00:00", "new_labelled_rows": 37, "needed": 100}
    deployed.save()
    version(3, status=ModelStatus.FAILED, accuracy_metrics={}, status_reason="Training failed: too few rows.")
    DriftCheck.objects.create(model=first, score=0.05, band="stable", rows=600)
    DriftCheck.objects.create(model=deployed, score=0.12, band="moderate", alert=True, rows=700)
    version(1, model_type="churn", status=ModelStatus.DEPLOYED)  # beat has not looked at churn yet

    response = admin_client.get(reverse(STATUS))

    html = response.content.decode()
    success = html[html.index('id="model-success"') : html.index('id="model-satisfaction"')]
    assert response.status_code == 200
    assert 'class="deployed-version">v2<' in success
    assert "moderate" in success
    assert "700 rows" in success
    assert "42 outcomes" in success
    assert "Training failed: too few rows." in success
    assert '<span class="retrain-needs">100 new labelled rows</span> since the latest version' in success
    assert "Beat's last look (2026-12-06 03:00): 37 of the 100." in success  # v3 failed: v2's count
    churn = html[html.index('id="model-churn"') : html.index('id="model-segment"')]
    assert "Beat has not looked since the latest version." in churn
    assert success.count("<svg") == 2
    assert "<polyline" in success
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 10  # two charts for each of five types
    assert "No version deployed." in html  # the other types
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}


def test_the_changelist_shows_the_metrics_against_the_baseline_and_links_the_status_page(admin_client):
    version(1, status=ModelStatus.DEPLOYED)

    response = admin_client.get(reverse(CHANGELIST))

    html = response.content.decode()
    assert "roc_auc 0.7100 (0.5000); brier 0.1900 (0.2500)" in html
    assert reverse(STATUS) in html


def test_versions_are_read_only_and_the_artifact_is_never_shown(admin_client):
    model = version(1)

    add = admin_client.get(reverse("admin:predictions_predictivemodel_add"))
    change = admin_client.get(reverse("admin:predictions_predictivemodel_change", args=[model.pk]))

    assert add.status_code == 403
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert b"artifact_sha256" in change.content
    assert b'"field-artifact"' not in change.content
    assert "delete_selected" not in change.content.decode()


def test_deploy_makes_the_version_the_only_deployed_one_and_roll_back_restores_the_previous(admin_client):
    first = version(1, status=ModelStatus.DEPLOYED)
    second = version(2)

    deployed = act(admin_client, "deploy", second)
    assert statuses() == {1: "retired", 2: "deployed"}
    assert "success v2 (deployed): deployed." in messages_of(deployed)

    rolled = act(admin_client, "roll_back", second)
    assert statuses() == {1: "deployed", 2: "retired"}
    assert "success: rolled back to v1." in messages_of(rolled)
    first.refresh_from_db()
    assert first.status_reason == "Rolled back from v2."


def test_roll_back_without_an_earlier_version_is_an_error_message(admin_client):
    only = version(1, status=ModelStatus.DEPLOYED)

    response = act(admin_client, "roll_back", only)

    assert messages_of(response) == ["success: not rolled back: No earlier deployed success version to roll back to."]
    assert statuses() == {1: "deployed"}


def test_a_tampered_artifact_is_refused_and_the_deployed_version_stays(admin_client):
    version(1, status=ModelStatus.DEPLOYED)
    tampered = version(2)
    data = bytearray(tampered.artifact)
    data[len(data) // 2] ^= 0x01
    tampered.artifact = bytes(data)
    tampered.save()

    response = act(admin_client, "deploy", tampered)

    [message] = messages_of(response)
    assert message.startswith("success v2 (validated): not deployed: v2's artifact is refused: digest mismatch")
    assert statuses() == {1: "deployed", 2: "validated"}


def test_a_failed_version_cannot_be_deployed(admin_client):
    failed = version(1, status=ModelStatus.FAILED)

    response = act(admin_client, "deploy", failed)

    assert messages_of(response) == ["success v1 (failed): not deployed: A failed version cannot be deployed."]


def test_train_now_without_enough_samples_says_how_many_are_needed_and_opens_nothing(admin_client):
    version(1, status=ModelStatus.DEPLOYED)

    response = act(admin_client, "train_now", PredictiveModel.objects.get())

    assert messages_of(response) == ["success needs at least 100 labelled samples to train; there are 0."]
    assert statuses() == {1: "deployed"}


def test_train_now_while_a_run_is_open_is_an_error_message(admin_client):
    version(1, status=ModelStatus.DEPLOYED)
    version(2, status=ModelStatus.TRAINING)

    response = act(admin_client, "train_now", PredictiveModel.objects.get(version=1))

    assert messages_of(response) == ["A success model is already training (version 2)."]
    assert statuses() == {1: "deployed", 2: "training"}


def test_drift_checks_and_interventions_are_listed_read_only(admin_client):
    model = version(1, status=ModelStatus.DEPLOYED)
    DriftCheck.objects.create(model=model, score=0.3, band="significant", alert=True, retrain=True, rows=800)
    customer = CustomerAccountFactory()
    Intervention.objects.create(customer=customer, kind="churn_alert", churn_risk=0.8, reason="High churn risk.")

    checks = admin_client.get(reverse("admin:predictions_driftcheck_changelist"), {"band": "significant"})
    interventions = admin_client.get(reverse("admin:predictions_intervention_changelist"), {"status": "open"})

    assert checks.status_code == interventions.status_code == 200
    assert b"significant" in checks.content
    assert b"0.8" in interventions.content
    assert admin_client.get(reverse("admin:predictions_intervention_add")).status_code == 403
    assert admin_client.get(reverse("admin:predictions_driftcheck_add")).status_code == 403
