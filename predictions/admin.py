"""The model registry in the Django admin: the versions at a glance (read-only: they change only through the
services), the actions train / deploy / roll back, and a status page per model type with its charts drawn on
the server; drift checks and interventions, read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime

from core.errors import DomainError
from predictions import charts
from predictions.ml.artifacts import ArtifactRejected
from predictions.models import DriftCheck, Intervention, ModelStatus, ModelType, PredictiveModel
from predictions.selectors import model_versions_list
from predictions.services.registry import (
    BASELINE_METRIC,
    CHAMPION_METRIC,
    MINIMUM_SAMPLES,
    model_deploy,
    model_rollback,
    model_train_start,
)

# The metrics shown against the baseline's, per type: the champion metric first, then the baseline's own.
LIST_METRICS = {
    model_type: list(dict.fromkeys([metric, *([BASELINE_METRIC[model_type]] if model_type in BASELINE_METRIC else [])]))
    for model_type, (metric, _, _) in CHAMPION_METRIC.items()
}


def _number(value) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.4f}"


def metric_rows(model: PredictiveModel) -> list[dict]:
    """Every holdout metric of a version beside the baseline's (the primary ones first)."""
    metrics = model.accuracy_metrics or {}
    holdout, baseline = metrics.get("holdout") or {}, metrics.get("baseline") or {}
    primary = LIST_METRICS.get(model.model_type, [])
    names = [*primary, *(name for name in holdout if name not in primary)]
    return [
        {"metric": name, "model": holdout.get(name), "baseline": baseline.get(name), "primary": name in primary}
        for name in names
        if name in holdout or name in baseline
    ]


@admin.action(description="Train now")
def train_now(modeladmin, request, queryset) -> None:
    for model_type in sorted({model.model_type for model in queryset}):
        try:
            run = model_train_start(model_type=model_type, requested_by=request.user)
        except DomainError as error:
            modeladmin.message_user(request, str(error), level=messages.ERROR)
            continue
        modeladmin.message_user(request, f"{run}: training queued; its status follows in the versions list.")


@admin.action(description="Deploy this version")
def deploy(modeladmin, request, queryset) -> None:
    for model in queryset:
        try:
            deployed = model_deploy(model=model, reason=f"Deployed by hand by {request.user}.")
        except (DomainError, ArtifactRejected) as error:
            modeladmin.message_user(request, f"{model}: not deployed: {error}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{deployed}: deployed.")


@admin.action(description="Roll back")
def roll_back(modeladmin, request, queryset) -> None:
    for model_type in sorted({model.model_type for model in queryset}):
        try:
            model = model_rollback(model_type=model_type)
        except (DomainError, ArtifactRejected) as error:
            modeladmin.message_user(request, f"{model_type}: not rolled back: {error}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{model_type}: rolled back to v{model.version}.")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PredictiveModel)
class PredictiveModelAdmin(ReadOnlyAdmin):
    list_display = (
        "model_type",
        "version",
        "status",
        "holdout_vs_baseline",
        "drift_score",
        "deployed_at",
        "next_retrain_due",
        "training_seconds",
    )
    list_filter = ("model_type", "status")
    search_fields = ("name", "status_reason")
    exclude = ("artifact",)
    actions = [train_now, deploy, roll_back]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact")

    @admin.display(description="holdout (baseline)")
    def holdout_vs_baseline(self, model: PredictiveModel) -> str:
        rows = [row for row in metric_rows(model) if row["primary"]]
        if not rows:
            return "-"
        return "; ".join(f"{r['metric']} {_number(r['model'])} ({_number(r['baseline'])})" for r in rows)

    def get_urls(self):
        return [
            path("status/", self.admin_site.admin_view(self.status_view), name="predictions_model_status"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        extra = {"status_url": reverse("admin:predictions_model_status"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    @staticmethod
    def retrain_check(history: list[PredictiveModel]) -> dict:
        """Beat's last count of the new labelled rows, kept on the type's latest version that did not fail
        (`models_retrain_due`), with its time as a datetime; {} before beat has looked."""
        check = next((m.retrain_check for m in history if m.status != ModelStatus.FAILED), {})
        return {**check, "checked_at": parse_datetime(check["checked_at"])} if check else {}

    def status_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        versions = list(
            model_versions_list().prefetch_related(
                Prefetch("drift_checks", queryset=DriftCheck.objects.order_by("checked_at"))
            )
        )
        sections = []
        for model_type, label in ModelType.choices:
            history = [m for m in versions if m.model_type == model_type]
            deployed = next((m for m in history if m.status == ModelStatus.DEPLOYED), None)
            metric = CHAMPION_METRIC[model_type][0]
            oldest_first = sorted(history, key=lambda m: (m.created_at, m.version))
            checks = [(c.checked_at, c.score) for m in oldest_first for c in m.drift_checks.all()]
            deployed_checks = list(deployed.drift_checks.all()) if deployed else []
            sections.append(
                {
                    "model_type": model_type,
                    "label": label,
                    "deployed": deployed,
                    "deployed_metrics": metric_rows(deployed) if deployed else [],
                    "live_accuracy": (deployed.prediction_accuracy or {}) if deployed else {},
                    "latest_check": deployed_checks[-1] if deployed_checks else None,
                    "retrain_needs": (  # what beat waits for once the cadence has come (models_retrain_due)
                        f"{MINIMUM_SAMPLES[model_type]} "
                        + ("customers with a new order" if model_type == "next_order" else "new labelled rows")
                    ),
                    "retrain_check": self.retrain_check(history),
                    "history": [{"model": m, "summary": self.holdout_vs_baseline(m)} for m in history],
                    "metric_chart": charts.metric_over_versions(
                        [
                            (
                                m.created_at,
                                m.version,
                                (m.accuracy_metrics or {}).get("holdout", {}).get(metric),
                                (m.accuracy_metrics or {}).get("baseline", {}).get(metric),
                            )
                            for m in oldest_first
                        ],
                        model_type=model_type,
                        metric=metric,
                    ),
                    "drift_chart": charts.drift_over_checks(sorted(checks), model_type=model_type),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Model status",
            "sections": sections,
        }
        return render(request, "admin/predictions/model_status.html", context)


@admin.register(DriftCheck)
class DriftCheckAdmin(ReadOnlyAdmin):
    list_display = ("model", "checked_at", "score", "prediction_psi", "band", "alert", "retrain", "rows")
    list_filter = ("band", "alert", "retrain", "model__model_type")
    list_select_related = ("model",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("model__artifact")


@admin.register(Intervention)
class InterventionAdmin(ReadOnlyAdmin):
    list_display = ("customer", "kind", "status", "churn_risk", "created_at", "resolved_at", "outcome")
    list_filter = ("kind", "status")
    search_fields = ("reason", "outcome")
    list_select_related = ("customer",)
