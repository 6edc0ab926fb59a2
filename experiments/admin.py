"""Experiments in the Django admin: the list at a glance, a create/edit form whose errors come from the same
services as the API's, the lifecycle actions, and a results page with charts drawn on the server."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from core.errors import DomainError
from experiments import charts
from experiments.analysis import analysis_current, experiment_analyze
from experiments.forms import ExperimentForm, VariantFormSet, form_errors_from, form_initial, form_spec
from experiments.models import ABTestExperiment, ExperimentStatus, Variant
from experiments.selectors import experiment_snapshots_list, experiment_weights_history
from experiments.services import (
    EDITABLE_ONCE_STARTED,
    experiment_create,
    experiment_duplicate,
    experiment_pause,
    experiment_spec,
    experiment_start,
    experiment_stop,
    experiment_update,
)

COUNTERS = ("participants", "conversions", "revenue_sum", "ratings")


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ("position", "key", "name", "is_control", "weight", "config", *COUNTERS)
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _lifecycle(service, description: str, done: str):
    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        for experiment in queryset:
            try:
                service(experiment=experiment, reason=f"{description.lower()} by {request.user}")
            except DomainError as error:
                modeladmin.message_user(request, f"{experiment}: {error}", level=messages.ERROR)
            else:
                modeladmin.message_user(request, f"{experiment}: {done}.")

    action.__name__ = service.__name__
    return action


@admin.action(description="Analyze now")
def analyze_now(modeladmin, request, queryset) -> None:
    for experiment in queryset:
        analysis = experiment_analyze(experiment=experiment)
        modeladmin.message_user(request, f"{experiment}: analysed. {analysis['winner_reason'] or ''}")


@admin.action(description="Duplicate as a new draft")
def duplicate(modeladmin, request, queryset) -> None:
    for experiment in queryset:
        copy = experiment_duplicate(experiment=experiment, created_by=request.user)
        modeladmin.message_user(request, f"{experiment}: duplicated as {copy}.")


@admin.register(ABTestExperiment)
class ABTestExperimentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "experiment_type",
        "status",
        "participants",
        "lift",
        "significance",
        "winner",
        "start_date",
        "results_link",
    )
    list_filter = ("status", "experiment_type")
    search_fields = ("name", "description")
    inlines = [VariantInline]
    actions = [
        _lifecycle(experiment_start, "Start", "started"),
        _lifecycle(experiment_pause, "Pause", "paused"),
        _lifecycle(experiment_stop, "Stop", "stopped"),
        analyze_now,
        duplicate,
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("variants")

    # --- the list at a glance (from the stored analysis: no statistics are computed per row) -----------------

    @admin.display(description="participants")
    def participants(self, experiment: ABTestExperiment) -> int:
        return sum(v.participants for v in experiment.variants.all())

    def _best(self, experiment: ABTestExperiment) -> dict | None:
        analysis = experiment.analysis or {}
        metric = analysis.get("decision_metric", "conversion_rate")
        rows = [row[metric] for row in analysis.get("comparisons", []) if row.get(metric, {}).get("effect") is not None]
        return max(rows, key=lambda r: r["effect"], default=None)

    @admin.display(description="best lift")
    def lift(self, experiment: ABTestExperiment) -> str:
        best = self._best(experiment)
        return "-" if best is None else f"{best['effect']:+.1%} [{best['ci_low']:+.1%}, {best['ci_high']:+.1%}]"

    @admin.display(description="significance")
    def significance(self, experiment: ABTestExperiment) -> str:
        best = self._best(experiment)
        if best is None:
            return "-"
        p_value = best["p_value_adjusted"] if best["p_value_adjusted"] is not None else best["p_value"]
        return f"{'significant' if best['significant'] else 'not significant'} (p = {p_value:.3g})"

    @admin.display(description="winner")
    def winner(self, experiment: ABTestExperiment) -> str:
        return (experiment.analysis or {}).get("winner") or "-"

    @admin.display(description="results")
    def results_link(self, experiment: ABTestExperiment) -> str:
        return format_html('<a href="{}">results</a>', reverse("admin:experiments_results", args=[experiment.pk]))

    # --- create and edit through the services ----------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<int:experiment_id>/results/",
                self.admin_site.admin_view(self.results_view),
                name="experiments_results",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._form_view(request, None)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        experiment = self.get_object(request, object_id)
        if experiment is None:
            raise Http404("No such experiment.")
        if request.method == "POST" and not self.has_change_permission(request, experiment):
            raise PermissionDenied
        return self._form_view(request, experiment)

    def _form_view(self, request: HttpRequest, experiment: ABTestExperiment | None) -> HttpResponse:
        frozen = experiment is not None and experiment.status != ExperimentStatus.DRAFT
        initial, variant_initial = (
            form_initial(experiment_spec(experiment)) if experiment else ({}, self._starting_variants())
        )
        if request.method == "POST":
            form = ExperimentForm(request.POST, initial=initial, frozen=frozen)
            # Bound without initial rows, so that every submitted row counts; frozen rows are shown, not read.
            formset = VariantFormSet(
                None if frozen else request.POST,
                initial=variant_initial if frozen else None,
                prefix="variants",
                form_kwargs={"frozen": frozen},
            )
            if form.is_valid() and (frozen or formset.is_valid()):
                spec = (
                    {name: form.cleaned_data[name] for name in EDITABLE_ONCE_STARTED}
                    if frozen
                    else form_spec(form, formset)
                )
                try:
                    if experiment is None:
                        experiment = experiment_create(created_by=request.user, **spec)
                        self.message_user(request, f"Draft experiment “{experiment}” created.")
                    else:
                        experiment = experiment_update(experiment=experiment, **spec)
                        self.message_user(request, f"Experiment “{experiment}” saved.")
                except DomainError as error:
                    form_errors_from(error, form, formset)
                else:
                    return HttpResponseRedirect(
                        reverse("admin:experiments_abtestexperiment_change", args=[experiment.pk])
                    )
        else:
            form = ExperimentForm(initial=initial, frozen=frozen)
            formset = VariantFormSet(initial=variant_initial, prefix="variants", form_kwargs={"frozen": frozen})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Change experiment {experiment}" if experiment else "Add experiment",
            "experiment": experiment,
            "form": form,
            "formset": formset,
            "frozen": frozen,
            "variants": list(experiment.variants.order_by("position")) if experiment else [],
            "results_url": reverse("admin:experiments_results", args=[experiment.pk]) if experiment else None,
            "can_change": self.has_change_permission(request, experiment),
        }
        return render(request, "admin/experiments/experiment_form.html", context)

    @staticmethod
    def _starting_variants() -> list[dict]:
        return [
            {"key": "control", "name": "Control", "is_control": True, "weight": 0.5, "strategy": "balanced"},
            {"key": "treatment", "name": "Treatment", "weight": 0.5, "strategy": "personalized"},
        ]

    # --- results ---------------------------------------------------------------------------------------------

    def results_view(self, request: HttpRequest, experiment_id: int) -> HttpResponse:
        experiment = self.get_object(request, str(experiment_id))
        if experiment is None or not self.has_view_permission(request, experiment):
            raise Http404("No such experiment.")
        analysis = analysis_current(experiment=experiment)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Results of {experiment}",
            "experiment": experiment,
            "analysis": analysis,
            "comparison_rows": [
                {"variant": row["variant"], "metric": metric, "result": result}
                for row in analysis["comparisons"]
                for metric, result in row.items()
                if metric != "variant"
            ],
            "interval_chart": charts.lift_intervals(analysis),
            "conversion_chart": charts.cumulative_conversion(experiment_snapshots_list(experiment=experiment)),
            "weights_chart": charts.bandit_weights(experiment_weights_history(experiment=experiment))
            if experiment.experiment_type == "bandit"
            else None,
        }
        return render(request, "admin/experiments/results.html", context)
