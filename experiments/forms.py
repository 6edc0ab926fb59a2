"""The admin's experiment form: what a product manager types, turned into experiment_create's arguments.

The form checks types and shapes; the rules (weights summing to 1, one control, configs the engine accepts,
an end date ahead, a frozen configuration once started) stay in the services, whose DomainError fields are
mapped back onto the form's fields here, so each message appears beside what caused it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import formset_factory

from core.errors import DomainError
from experiments.models import AnalysisMethod, ExperimentType
from experiments.services import (
    EDITABLE_ONCE_STARTED,
    ENGINE_STRATEGIES,
    GUARDRAILS,
    PARAMETER_BOUNDS,
)
from marketplace.models import ComplexityLevel, Region, Segment

TARGETING_LISTS = {"segments": Segment.choices, "complexity_levels": ComplexityLevel.choices, "regions": Region.choices}
LOW, HIGH = PARAMETER_BOUNDS["exploration_temperature"]


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    experiment_type = forms.ChoiceField(choices=ExperimentType.choices, initial=ExperimentType.AB_TEST)
    analysis_method = forms.ChoiceField(choices=AnalysisMethod.choices, initial=AnalysisMethod.SEQUENTIAL)
    cuped = forms.BooleanField(required=False, initial=True, label="CUPED variance reduction")
    coverage = forms.FloatField(min_value=0, max_value=1, initial=1.0, help_text="Share of eligible customers")
    segments = forms.MultipleChoiceField(choices=Segment.choices, required=False, widget=forms.CheckboxSelectMultiple)
    complexity_levels = forms.MultipleChoiceField(
        choices=ComplexityLevel.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    regions = forms.MultipleChoiceField(choices=Region.choices, required=False, widget=forms.CheckboxSelectMultiple)
    min_order_value = forms.FloatField(min_value=0, required=False)
    max_order_value = forms.FloatField(min_value=0, required=False)
    namespace = forms.CharField(max_length=64, required=False, help_text="Experiments of one namespace never overlap")
    namespace_start = forms.FloatField(min_value=0, max_value=1, initial=0.0)
    namespace_end = forms.FloatField(min_value=0, max_value=1, initial=1.0)
    planned_end_date = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    minimum_sample_size = forms.IntegerField(min_value=2, initial=100, help_text="Per variant, before any decision")
    minimum_effect_size = forms.FloatField(min_value=0, max_value=10, initial=0.05, help_text="Relative (0.05 = 5%)")
    confidence_level = forms.FloatField(min_value=0.8, max_value=0.999, initial=0.95)
    minimum_runtime_days = forms.FloatField(min_value=0, max_value=365, initial=7.0)
    guardrail_metrics = forms.MultipleChoiceField(
        choices=[(g, g) for g in GUARDRAILS], required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, frozen: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if frozen:  # started: only what EDITABLE_ONCE_STARTED names may change
            for name, field in self.fields.items():
                field.disabled = name not in EDITABLE_ONCE_STARTED


class VariantForm(forms.Form):
    key = forms.SlugField(max_length=40)
    name = forms.CharField(max_length=100, required=False)
    is_control = forms.BooleanField(required=False, label="Control")
    weight = forms.FloatField(min_value=0, max_value=1)
    strategy = forms.ChoiceField(choices=[("", "---------"), *((s, s) for s in ENGINE_STRATEGIES)])
    exploration_temperature = forms.FloatField(
        min_value=LOW, max_value=HIGH, required=False, help_text=f"Optional, within [{LOW}, {HIGH}]"
    )

    def __init__(self, *args, frozen: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.disabled = frozen


# No minimum here: the service says "at least two variants" (rows unchanged from their initial would not count).
VariantFormSet = formset_factory(VariantForm, extra=2, max_num=20, validate_max=True)


def form_initial(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The forms' initial data from an experiment's spec (services.experiment_spec)."""
    experiment = {name: value for name, value in spec.items() if name not in ("variants", "targeting")}
    for name in (*TARGETING_LISTS, "min_order_value", "max_order_value"):
        experiment[name] = spec["targeting"].get(name, [] if name in TARGETING_LISTS else None)
    variants = [
        {
            "key": v["key"],
            "name": v["name"],
            "is_control": v["is_control"],
            "weight": v["weight"],
            "strategy": v["config"]["strategy"],
            "exploration_temperature": v["config"].get("parameters", {}).get("exploration_temperature"),
        }
        for v in spec["variants"]
    ]
    return experiment, variants


def form_spec(form: ExperimentForm, formset) -> dict[str, Any]:
    """experiment_create's arguments from valid forms; blank extra variant rows are left out."""
    data = dict(form.cleaned_data)
    targeting = {name: data.pop(name) for name in TARGETING_LISTS if data.get(name)}
    for name in ("min_order_value", "max_order_value"):
        value = data.pop(name, None)
        if value is not None:
            targeting[name] = value
    for name in TARGETING_LISTS:
        data.pop(name, None)
    data["targeting"] = targeting
    variants = []
    for row in formset.cleaned_data:
        if not row:
            continue
        parameters = {}
        if row.get("exploration_temperature") is not None:
            parameters["exploration_temperature"] = row["exploration_temperature"]
        variants.append(
            {
                "key": row["key"],
                "name": row.get("name") or row["key"],
                "is_control": bool(row.get("is_control")),
                "weight": row["weight"],
                "config": {"strategy": row["strategy"], "parameters": parameters},
            }
        )
    data["variants"] = variants
    return data


def form_errors_from(error: DomainError, form: ExperimentForm, formset) -> None:
    """Put a service's refusal beside the field it names (variants.1.config.strategy -> row 2, strategy)."""
    fields = error.extra.get("fields") or {"": [error.message]}
    for path, messages in fields.items():
        parts = path.split(".")
        message = " ".join(messages)
        if parts[0] == "variants" and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            target = (
                "strategy" if "strategy" in parts else ("exploration_temperature" if "parameters" in parts else None)
            )
            forms_filled = [f for f in formset.forms if f.cleaned_data]
            if index < len(forms_filled):
                forms_filled[index].add_error(target, message)
                continue
        if parts[0] == "variants":
            formset._non_form_errors = formset.error_class([*formset.non_form_errors(), message])
            continue
        name = parts[-1] if parts[0] == "targeting" and len(parts) > 1 else parts[0]
        form.add_error(name if name in form.fields else None, message)
