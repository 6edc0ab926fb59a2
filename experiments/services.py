"""Writes of experiments: creation with validation against what the engine accepts, the lifecycle, and the
engine's side: sticky assignment, exposures and conversions counted once per customer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError
from experiments import assignment
from experiments.models import (
    ABTestExperiment,
    AnalysisMethod,
    Assignment,
    BanditWeights,
    ConversionEvent,
    ExperimentStatus,
    ExperimentType,
    ExposureEvent,
    Variant,
    VariantPeriod,
)
from experiments.selectors import experiments_running, running_experiments_invalidate
from marketplace.models import ComplexityLevel, CustomerAccount, MatchOutcome, Region, Segment
from marketplace.scoring import STRATEGIES, OrderContext

ENGINE_STRATEGIES = ("personalized", *STRATEGIES)  # what a variant may rank with
PARAMETER_BOUNDS = {"exploration_temperature": (0.0, 0.2)}  # what a variant may set, and within which bounds
GUARDRAILS = ("satisfaction",)  # the metrics a guardrail may watch (those counted per variant)
PRE_PERIOD_DAYS = 90  # CUPED's covariate: a participant's conversions in these days before the start
TARGETING = {"segments": Segment.values, "complexity_levels": ComplexityLevel.values, "regions": Region.values}


def variant_config_validate(config: Any, *, field: str) -> dict:
    if not isinstance(config, dict) or set(config) - {"strategy", "parameters"}:
        raise DomainError('A variant config is {"strategy": ..., "parameters": {...}}.', field=field)
    strategy = config.get("strategy")
    if strategy not in ENGINE_STRATEGIES:
        raise DomainError(
            f"Unknown strategy {strategy!r}; the engine accepts {', '.join(ENGINE_STRATEGIES)}.",
            field=f"{field}.strategy",
        )
    parameters = config.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise DomainError("Parameters are an object.", field=f"{field}.parameters")
    for name, value in parameters.items():
        if name not in PARAMETER_BOUNDS:
            raise DomainError(
                f"Unknown parameter {name!r}; the engine accepts {', '.join(PARAMETER_BOUNDS)}.",
                field=f"{field}.parameters.{name}",
            )
        low, high = PARAMETER_BOUNDS[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not (low <= value <= high)
        ):
            raise DomainError(f"{name} must be a number within [{low}, {high}].", field=f"{field}.parameters.{name}")
    return {"strategy": strategy, "parameters": dict(parameters)}


def targeting_validate(targeting: Any) -> dict:
    if not isinstance(targeting, dict):
        raise DomainError("Targeting is an object.", field="targeting")
    unknown = set(targeting) - set(TARGETING) - {"min_order_value", "max_order_value"}
    if unknown:
        raise DomainError(f"Unknown targeting {sorted(unknown)}.", field="targeting")
    for name, allowed in TARGETING.items():
        values = targeting.get(name, [])
        if not isinstance(values, list) or set(values) - set(allowed):
            raise DomainError(f"{name} must be a list of {', '.join(allowed)}.", field=f"targeting.{name}")
    low, high = targeting.get("min_order_value"), targeting.get("max_order_value")
    for name, value in (("min_order_value", low), ("max_order_value", high)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise DomainError(f"{name} must be a non-negative number.", field=f"targeting.{name}")
    if low is not None and high is not None and low > high:
        raise DomainError("min_order_value is above max_order_value.", field="targeting.max_order_value")
    return dict(targeting)


def _experiment_build(
    *,
    name: str,
    variants: list[dict],
    experiment_type: str = ExperimentType.AB_TEST,
    description: str = "",
    coverage: float = 1.0,
    targeting: dict | None = None,
    namespace: str = "",
    namespace_start: float = 0.0,
    namespace_end: float = 1.0,
    planned_end_date: datetime | None = None,
    minimum_sample_size: int = 100,
    minimum_effect_size: float = 0.05,
    confidence_level: float = 0.95,
    minimum_runtime_days: float = 7.0,
    guardrail_metrics: list[str] | None = None,
    analysis_method: str = AnalysisMethod.SEQUENTIAL,
    cuped: bool = True,
    created_by=None,
    instance: ABTestExperiment | None = None,
) -> tuple[ABTestExperiment, list[Variant]]:
    """Validate a whole experiment and build its unsaved rows (into `instance` when editing a draft)."""
    if ABTestExperiment.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None)).exists():
        raise DomainError("An experiment of this name exists.", field="name")
    if experiment_type not in ExperimentType.values:
        raise DomainError(f"The type is one of {', '.join(ExperimentType.values)}.", field="experiment_type")
    if analysis_method not in AnalysisMethod.values:
        raise DomainError(f"The method is one of {', '.join(AnalysisMethod.values)}.", field="analysis_method")
    if not isinstance(variants, list) or len(variants) < 2:
        raise DomainError("An experiment needs at least two variants.", field="variants")
    weights = [v.get("weight") for v in variants]
    try:
        assignment.bucket_ranges(weights, coverage)
    except (ValueError, TypeError) as error:
        field = "coverage" if "coverage" in str(error) else "variants"
        raise DomainError(str(error), field=field) from error
    controls = [i for i, v in enumerate(variants) if v.get("is_control")]
    if len(controls) != 1:
        raise DomainError("Exactly one variant is the control.", field="variants")
    keys = [v.get("key") for v in variants]
    if len(set(keys)) != len(keys) or not all(isinstance(k, str) and k for k in keys):
        raise DomainError("Each variant has its own key.", field="variants")
    configs = [variant_config_validate(v.get("config"), field=f"variants.{i}.config") for i, v in enumerate(variants)]
    if planned_end_date is not None and planned_end_date <= timezone.now():
        raise DomainError("The planned end date is in the past.", field="planned_end_date")
    guardrails = list(guardrail_metrics or [])
    if set(guardrails) - set(GUARDRAILS):
        raise DomainError(f"Guardrail metrics are among {', '.join(GUARDRAILS)}.", field="guardrail_metrics")
    if not 0 <= namespace_start < namespace_end <= 1:
        raise DomainError("The namespace range is 0 <= start < end <= 1.", field="namespace_start")
    experiment = instance or ABTestExperiment(created_by=created_by)
    for field, value in (
        ("name", name),
        ("description", description),
        ("experiment_type", experiment_type),
        ("coverage", coverage),
        ("targeting", targeting_validate(targeting or {})),
        ("namespace", namespace),
        ("namespace_start", namespace_start),
        ("namespace_end", namespace_end),
        ("planned_end_date", planned_end_date),
        ("minimum_sample_size", minimum_sample_size),
        ("minimum_effect_size", minimum_effect_size),
        ("confidence_level", confidence_level),
        ("minimum_runtime_days", minimum_runtime_days),
        ("guardrail_metrics", guardrails),
        ("analysis_method", analysis_method),
        ("cuped", bool(cuped)),
    ):
        setattr(experiment, field, value)
    try:
        experiment.full_clean(validate_unique=False)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise DomainError(" ".join(messages), field=field) from error
    rows = [
        Variant(
            key=v["key"],
            name=v.get("name") or v["key"],
            position=i,
            is_control=i == controls[0],
            weight=float(v["weight"]),
            config=config,
        )
        for i, (v, config) in enumerate(zip(variants, configs))
    ]
    return experiment, rows


@transaction.atomic
def experiment_create(*, name: str, variants: list[dict], created_by=None, **settings: Any) -> ABTestExperiment:
    """A draft experiment with its variants: at least two, one control, weights summing to 1, and configs
    the engine accepts. `settings` are the fields of SETTINGS (the model's defaults otherwise)."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise DomainError(f"Unknown settings: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    experiment, rows = _experiment_build(name=name, variants=variants, created_by=created_by, **settings)
    experiment.save()
    for row in rows:
        row.experiment = experiment
    Variant.objects.bulk_create(rows)
    return experiment


SETTINGS = (  # what experiment_create takes besides the name and the variants
    "experiment_type",
    "description",
    "coverage",
    "targeting",
    "namespace",
    "namespace_start",
    "namespace_end",
    "planned_end_date",
    "minimum_sample_size",
    "minimum_effect_size",
    "confidence_level",
    "minimum_runtime_days",
    "guardrail_metrics",
    "analysis_method",
    "cuped",
)
EDITABLE_ONCE_STARTED = ("description", "coverage")  # the configuration is frozen; a ramp may only grow


def experiment_spec(experiment: ABTestExperiment) -> dict[str, Any]:
    """The experiment as experiment_create's arguments: what an edit starts from and a duplicate copies."""
    spec = {name: getattr(experiment, name) for name in SETTINGS}
    spec["name"] = experiment.name
    spec["variants"] = [
        {"key": v.key, "name": v.name, "is_control": v.is_control, "weight": v.weight, "config": v.config}
        for v in experiment.variants.order_by("position")
    ]
    return spec


@transaction.atomic
def experiment_update(*, experiment: ABTestExperiment, **changes: Any) -> ABTestExperiment:
    """Edit an experiment. A draft may change anything (validated as at creation; its variants are replaced);
    once started only the description and the coverage (upwards) may change, so nobody changes variant."""
    experiment = ABTestExperiment.objects.select_for_update().get(pk=experiment.pk)
    unknown = set(changes) - set(SETTINGS) - {"name", "variants"}
    if unknown:
        raise DomainError(f"Unknown settings: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    spec = experiment_spec(experiment)
    changed = {name: value for name, value in changes.items() if value != spec[name]}
    if experiment.status != ExperimentStatus.DRAFT:
        frozen = sorted(set(changed) - set(EDITABLE_ONCE_STARTED))
        if frozen:
            raise DomainError(
                f"The experiment is {experiment.status}: its configuration is frozen; only the description and "
                "the coverage may change.",
                field=frozen[0],
            )
        if "coverage" in changed:
            experiment = experiment_coverage_set(experiment=experiment, coverage=changed["coverage"])
        if "description" in changed:
            experiment.description = changed["description"]
            experiment.save(update_fields=["description", "updated_at"])
        return experiment
    spec.update(changes)
    experiment, rows = _experiment_build(instance=experiment, **spec)
    experiment.save()
    experiment.variants.all().delete()  # a draft has no assignments or events: replacing its variants loses nothing
    for row in rows:
        row.experiment = experiment
    Variant.objects.bulk_create(rows)
    return experiment


@transaction.atomic
def experiment_duplicate(*, experiment: ABTestExperiment, created_by=None) -> ABTestExperiment:
    """A new draft with the same configuration (a new seed, so it assigns customers afresh)."""
    spec = experiment_spec(experiment)
    base = f"{spec.pop('name')} (copy)"
    name, number = base, 2
    while ABTestExperiment.objects.filter(name=name).exists():
        name, number = f"{base} {number}", number + 1
    if spec["planned_end_date"] is not None and spec["planned_end_date"] <= timezone.now():
        spec["planned_end_date"] = None
    if experiment.experiment_type == ExperimentType.BANDIT:  # a bandit's copy starts from even weights
        for variant in spec["variants"]:
            variant["weight"] = 1.0 / len(spec["variants"])
    return experiment_create(name=name, created_by=created_by, **spec)


def _transition(experiment: ABTestExperiment, *, allowed: tuple[str, ...], to: str, reason: str) -> ABTestExperiment:
    experiment = ABTestExperiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status not in allowed:
        raise DomainError(
            f"An experiment that is {experiment.status} cannot become {to}.",
            extra={"status": experiment.status},
            field="status",
        )
    experiment.status = to
    experiment.status_reason = reason
    fields = ["status", "status_reason", "updated_at"]
    if to == ExperimentStatus.RUNNING and experiment.start_date is None:
        experiment.start_date = timezone.now()
        fields.append("start_date")
        if experiment.experiment_type == ExperimentType.BANDIT:  # the weights history starts with the start
            BanditWeights.objects.create(
                experiment=experiment,
                weights={v.key: v.weight for v in experiment.variants.order_by("position")},
                is_start=True,
            )
    if to in (ExperimentStatus.STOPPED, ExperimentStatus.COMPLETED):
        experiment.actual_end_date = timezone.now()
        fields.append("actual_end_date")
    experiment.save(update_fields=fields)
    transaction.on_commit(running_experiments_invalidate)
    return experiment


@transaction.atomic
def experiment_start(*, experiment: ABTestExperiment, reason: str = "started") -> ABTestExperiment:
    return _transition(
        experiment,
        allowed=(ExperimentStatus.DRAFT, ExperimentStatus.PAUSED),
        to=ExperimentStatus.RUNNING,
        reason=reason,
    )


@transaction.atomic
def experiment_pause(*, experiment: ABTestExperiment, reason: str = "paused") -> ABTestExperiment:
    return _transition(experiment, allowed=(ExperimentStatus.RUNNING,), to=ExperimentStatus.PAUSED, reason=reason)


@transaction.atomic
def experiment_stop(*, experiment: ABTestExperiment, reason: str = "stopped") -> ABTestExperiment:
    return _transition(
        experiment,
        allowed=(ExperimentStatus.RUNNING, ExperimentStatus.PAUSED),
        to=ExperimentStatus.STOPPED,
        reason=reason,
    )


@transaction.atomic
def experiment_coverage_set(*, experiment: ABTestExperiment, coverage: float) -> ABTestExperiment:
    """Coverage may change freely in a draft; once started it may only grow (a ramp moves nobody)."""
    experiment = ABTestExperiment.objects.select_for_update().get(pk=experiment.pk)
    if not (isinstance(coverage, (int, float)) and 0 <= coverage <= 1):
        raise DomainError("Coverage is within [0, 1].", field="coverage")
    if experiment.status != ExperimentStatus.DRAFT and coverage < experiment.coverage:
        raise DomainError("Once started, coverage may only grow.", field="coverage")
    experiment.coverage = coverage
    experiment.save(update_fields=["coverage", "updated_at"])
    transaction.on_commit(running_experiments_invalidate)
    return experiment


@dataclass(frozen=True)
class VariantDecision:
    experiment_id: int
    experiment_name: str
    variant_id: int
    variant_key: str
    config: dict
    start_date: datetime | None = None
    period: int | None = None  # a bandit's weights period: how many weights it has had; None for an A/B/n test


def _targets(experiment: dict, customer: CustomerAccount, order: OrderContext) -> bool:
    targeting = experiment["targeting"]
    if targeting.get("segments") and customer.segment not in targeting["segments"]:
        return False
    if targeting.get("complexity_levels") and order.complexity_level not in targeting["complexity_levels"]:
        return False
    if targeting.get("regions") and order.delivery_region not in targeting["regions"]:
        return False
    low, high = targeting.get("min_order_value"), targeting.get("max_order_value")
    return (low is None or order.estimated_value >= low) and (high is None or order.estimated_value <= high)


def experiment_variant_for(*, customer: CustomerAccount, order: OrderContext) -> VariantDecision | None:
    """The variant of the first running experiment that targets this customer and order. The assignment is
    deterministic (FNV-1a of the experiment's seed and the customer) and sticky: the stored one wins."""
    for experiment in experiments_running():
        if not _targets(experiment, customer, order):
            continue
        stored = (
            Assignment.objects.filter(experiment_id=experiment["id"], customer=customer)
            .values_list("variant_id", flat=True)
            .first()
        )
        if stored is None:
            namespace = (
                assignment.Namespace(
                    experiment["namespace"], experiment["namespace_start"], experiment["namespace_end"]
                )
                if experiment["namespace"]
                else None
            )
            chosen = assignment.assign(
                experiment_seed=experiment["seed"],
                unit_id=str(customer.pk),
                weights=[v["weight"] for v in experiment["variants"]],
                coverage=experiment["coverage"],
                namespace=namespace,
            )
            if chosen is None:
                continue
            variant_id = experiment["variants"][chosen.variant]["id"]
            try:
                with transaction.atomic():
                    Assignment.objects.create(
                        experiment_id=experiment["id"],
                        variant_id=variant_id,
                        customer=customer,
                        hash_value=chosen.hash_value,
                    )
            except IntegrityError:  # a concurrent request stored it first: that one wins
                variant_id = Assignment.objects.get(experiment_id=experiment["id"], customer=customer).variant_id
            stored = variant_id
        variant = next(v for v in experiment["variants"] if v["id"] == stored)
        return VariantDecision(
            experiment["id"],
            experiment["name"],
            variant["id"],
            variant["key"],
            variant["config"],
            experiment["start_date"],
            experiment["period"],
        )
    return None


def pre_period_conversions(*, customer: CustomerAccount, start: datetime | None) -> int:
    """CUPED's covariate: the customer's conversions on orders placed in the PRE_PERIOD_DAYS before `start`."""
    if start is None:
        return 0
    return MatchOutcome.objects.filter(
        order__customer=customer,
        converted=True,
        order__created_at__gte=start - timedelta(days=PRE_PERIOD_DAYS),
        order__created_at__lt=start,
    ).count()


def _period_exposed(*, variant_id: int, period: int) -> None:
    """One more participant in a bandit variant's period (the row is created by the period's first)."""
    if VariantPeriod.objects.filter(variant_id=variant_id, period=period).update(participants=F("participants") + 1):
        return
    try:
        with transaction.atomic():
            VariantPeriod.objects.create(variant_id=variant_id, period=period, participants=1)
    except IntegrityError:  # a concurrent first exposure created it
        VariantPeriod.objects.filter(variant_id=variant_id, period=period).update(participants=F("participants") + 1)


def exposure_record(*, decision: VariantDecision, customer: CustomerAccount, session_id) -> bool:
    """Count the customer's exposure once per experiment: the event row and the counters (participants and
    CUPED's covariate sums) in one transaction."""
    if ExposureEvent.objects.filter(experiment_id=decision.experiment_id, customer=customer).exists():
        return False  # the common case of a returning customer: no pre-period query
    covariate = pre_period_conversions(customer=customer, start=decision.start_date)
    try:
        with transaction.atomic():
            ExposureEvent.objects.create(
                event_id=f"exposure:{decision.experiment_id}:{customer.pk}",
                experiment_id=decision.experiment_id,
                variant_id=decision.variant_id,
                customer=customer,
                session_id=session_id,
                pre_conversions=covariate,
                period=decision.period or 0,
            )
            Variant.objects.filter(pk=decision.variant_id).update(
                participants=F("participants") + 1,
                covariate_sum=F("covariate_sum") + covariate,
                covariate_sum_squares=F("covariate_sum_squares") + covariate * covariate,
            )
            if decision.period is not None:
                _period_exposed(variant_id=decision.variant_id, period=decision.period)
    except IntegrityError:
        return False
    return True


def conversion_record(*, variant_id: int, customer: CustomerAccount, session_id, value: float) -> bool:
    """Count the customer's conversion once per experiment (attributed through the session's variant)."""
    variant = Variant.objects.filter(pk=variant_id).values("experiment_id").first()
    if variant is None:
        return False
    exposure = (
        ExposureEvent.objects.filter(experiment_id=variant["experiment_id"], customer=customer)
        .values("pre_conversions", "period")
        .first()
    ) or {"pre_conversions": 0, "period": 0}
    covariate = exposure["pre_conversions"]
    try:
        with transaction.atomic():
            ConversionEvent.objects.create(
                event_id=f"conversion:{variant['experiment_id']}:{customer.pk}",
                experiment_id=variant["experiment_id"],
                variant_id=variant_id,
                customer=customer,
                session_id=session_id,
                value=value,
            )
            Variant.objects.filter(pk=variant_id).update(
                conversions=F("conversions") + 1,
                revenue_sum=F("revenue_sum") + value,
                revenue_sum_squares=F("revenue_sum_squares") + value * value,
                covariate_cross_sum=F("covariate_cross_sum") + covariate,
            )
            VariantPeriod.objects.filter(variant_id=variant_id, period=exposure["period"]).update(
                conversions=F("conversions") + 1
            )  # a bandit's: its conversion counts in the period of its exposure
    except IntegrityError:
        return False
    return True


@transaction.atomic
def experiment_counters_reconcile(*, experiment: ABTestExperiment) -> dict[str, dict]:
    """Set each variant's counters from its event rows (the source of truth), and say what differed.
    Idempotent; the counters are what the analysis reads, the events what they must agree with."""
    changed: dict[str, dict] = {}
    for variant in Variant.objects.select_for_update().filter(experiment=experiment).order_by("position"):
        covariates = dict(ExposureEvent.objects.filter(variant=variant).values_list("customer_id", "pre_conversions"))
        converted = list(ConversionEvent.objects.filter(variant=variant).values_list("customer_id", "value"))
        values = [value for _, value in converted]
        truth = {
            "participants": len(covariates),
            "conversions": len(values),
            "revenue_sum": float(sum(values)),
            "revenue_sum_squares": float(sum(v * v for v in values)),
            "covariate_sum": float(sum(covariates.values())),
            "covariate_sum_squares": float(sum(x * x for x in covariates.values())),
            "covariate_cross_sum": float(sum(covariates.get(customer, 0) for customer, _ in converted)),
        }
        before = {name: getattr(variant, name) for name in truth}
        if any(not math.isclose(before[name], truth[name], rel_tol=1e-9, abs_tol=1e-6) for name in truth):
            changed[variant.key] = {"before": before, "after": truth}
            for name, value in truth.items():
                setattr(variant, name, value)
            variant.save(update_fields=list(truth))
        if experiment.experiment_type == ExperimentType.BANDIT:
            periods = _periods_reconcile(variant)
            if periods:
                changed.setdefault(variant.key, {})["periods"] = periods
    return changed


def _periods_reconcile(variant: Variant) -> dict[int, dict]:
    """Set a bandit variant's period counters from its events; return what differed."""
    period_of = dict(ExposureEvent.objects.filter(variant=variant).values_list("customer_id", "period"))
    truth: dict[int, list[int]] = {}
    for period in period_of.values():
        truth.setdefault(period, [0, 0])[0] += 1
    for customer in ConversionEvent.objects.filter(variant=variant).values_list("customer_id", flat=True):
        if customer in period_of:
            truth[period_of[customer]][1] += 1
    stored = {p.period: p for p in VariantPeriod.objects.filter(variant=variant)}
    changed = {}
    for period in sorted(set(truth) | set(stored)):
        after = truth.get(period, [0, 0])
        row = stored.get(period)
        before = [row.participants, row.conversions] if row else [0, 0]
        if before != after:
            changed[period] = {"before": before, "after": after}
            VariantPeriod.objects.update_or_create(
                variant=variant, period=period, defaults={"participants": after[0], "conversions": after[1]}
            )
    return changed


def satisfaction_record(*, variant_id: int, rating: int) -> None:
    """Count a rated session of a variant for its satisfaction guardrail (atomic increments)."""
    Variant.objects.filter(pk=variant_id).update(
        ratings=F("ratings") + 1,
        satisfaction_sum=F("satisfaction_sum") + rating,
        satisfaction_sum_squares=F("satisfaction_sum_squares") + rating * rating,
    )
