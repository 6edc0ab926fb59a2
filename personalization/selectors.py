"""Reads of the personalization engine: a customer's profile in readable form, and the insights into how
personalization performs (against the other strategies, along the customer journey, in time to a match).

The insight figures come from a few aggregate queries whatever the number of sessions; the intervals and
tests are those of `experiments.stats`; the sentences come from `insight_sentences`, a pure function of
the figures, so that each rule is tested without a database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from experiments.stats import (
    ArmStats,
    ProportionStats,
    SampleStats,
    TestResult,
    UndefinedStatisticError,
    frequentist_test,
)
from marketplace.models import CustomerAccount, Manufacturer
from marketplace.vocabulary import FACTOR_LABELS, FACTORS, PROCESSES, REGIONS
from personalization import policy
from personalization.models import CustomerPersonalizationProfile, Interaction, RecommendationSession
from personalization.services.profiles import profile_view

# --- the readable profile ----------------------------------------------------------------------------------

TOP_PATTERNS = 5  # manufacturers, regions and processes shown per pattern
EVOLUTION_SHOWN = 5  # the last preference-evolution snapshots shown


def _chosen_patterns(records: dict[str, dict]) -> list[tuple[str, dict]]:
    """The entries that were chosen at least once, most chosen first (then most successful, then by key)."""
    chosen = [(key, record) for key, record in records.items() if record.get("chosen", 0) > 0]
    chosen.sort(key=lambda item: (-item[1].get("chosen", 0), -item[1].get("successes", 0), item[0]))
    return chosen[:TOP_PATTERNS]


def _pattern_counts(record: dict) -> dict[str, int]:
    return {name: int(record.get(name, 0)) for name in ("chosen", "rejected", "successes", "failures")}


def profile_personal_get(
    *, customer: CustomerAccount, profile: CustomerPersonalizationProfile, now: datetime | None = None
) -> dict:
    """The profile as its customer reads it: top factors, class, patterns with names, performance."""
    view = profile_view(profile, now=now)
    classification = policy.classify(view)
    weights = profile.personal_weights
    factors = sorted(
        ({"factor": f, "label": FACTOR_LABELS[f], "weight": float(weights.get(f, 0.0))} for f in FACTORS),
        key=lambda item: (-item["weight"], FACTORS.index(item["factor"])),
    )
    patterns = profile.behavior_patterns
    manufacturers = _chosen_patterns(patterns.get("manufacturers", {}))
    names = dict(Manufacturer.objects.filter(pk__in=[int(key) for key, _ in manufacturers]).values_list("id", "name"))
    explanations = patterns.get("explanations", {})
    speed = profile.decision_speed_profile
    return {
        "customer_id": customer.pk,
        "segment": customer.segment,
        "weights_version": profile.weights_version,
        "top_factors": factors,
        "personal_confidence": profile.personal_confidence,
        "personalization_level": policy.personalization_level(view, classification.kind),
        "customer_class": classification.kind,
        "customer_class_reason": classification.reason,
        "behavior_patterns": {
            "top_manufacturers": [
                {"id": int(key), "name": names.get(int(key)), **_pattern_counts(record)}
                for key, record in manufacturers
            ],
            "top_regions": [
                {"code": key, "label": REGIONS[key][0] if key in REGIONS else key, **_pattern_counts(record)}
                for key, record in _chosen_patterns(patterns.get("regions", {}))
            ],
            "top_processes": [
                {"code": key, "label": PROCESSES.get(key, key), **_pattern_counts(record)}
                for key, record in _chosen_patterns(patterns.get("processes", {}))
            ],
            "views": int(patterns.get("views", 0)),
            "explanations_opened": int(explanations.get("opened", 0)),
            "explanation_sessions": int(explanations.get("sessions", 0)),
            "decision_speed": {
                "decisions": int(speed.get("n", 0)),
                "typical_seconds": speed.get("typical_seconds"),
                "category": speed.get("category"),
            },
        },
        "performance": {
            "conversion_rate": profile.conversion_rate,
            "recommendation_acceptance_rate": profile.recommendation_acceptance_rate,
            "average_satisfaction": profile.average_satisfaction,
            "average_choice_rank": profile.average_choice_rank,
            "successful_matches": profile.successful_matches,
            "total_interactions": profile.total_interactions,
            "total_choices": profile.total_choices,
            "outcomes": profile.outcomes_count,
            "ratings": profile.ratings_count,
        },
        "learning_velocity": profile.learning_velocity,
        "explanation_preference": profile.explanation_preference,
        "risk_tolerance": profile.risk_tolerance,
        "complexity_comfort_level": profile.complexity_comfort_level,
        "preference_evolution": list(profile.preference_evolution[-EVOLUTION_SHOWN:]),
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
        "last_interaction_at": profile.last_interaction_at,
    }


# --- insight figures ---------------------------------------------------------------------------------------

PERSONALIZED_ALGORITHMS = ("personalized", "retention_focus")  # everything else ranked without personal weights
ALPHA = 0.05  # 95% intervals
SATISFIED_RATING = 4
FUNNEL_STEPS = ("recommended", "viewed", "chosen", "converted", "satisfied")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


_CONSTANT_ARM = {
    ProportionStats: ProportionStats(n=2, conversions=0),
    SampleStats: SampleStats(n=2, sum=0.0, sum_squares=0.0),
}


def mean_interval(arm: ArmStats, *, lower: float, upper: float) -> Interval | None:
    """The 95% interval of one arm's mean, clipped to the metric's range [lower, upper].

    It is Welch's interval of `frequentist_test` against a constant arm (no variance): the effect is then
    the arm's mean, its standard error `sqrt(variance / n)` and the degrees of freedom `n - 1`, so this is
    the one-sample t interval on experiments.stats' variance convention. None when the data do not define
    it: fewer than 2 units, or no variation at all (every session converted, or none).
    """
    try:
        result = frequentist_test(_CONSTANT_ARM[type(arm)], arm, alpha=ALPHA, relative=False)
    except UndefinedStatisticError:
        return None
    return Interval(max(lower, result.ci_low), min(upper, result.ci_high))


def compare(control: ArmStats, treatment: ArmStats, *, relative: bool) -> TestResult | None:
    """Treatment against control (experiments.stats' Welch test at 95%), None where undefined."""
    try:
        return frequentist_test(control, treatment, alpha=ALPHA, relative=relative)
    except UndefinedStatisticError:
        return None


@dataclass(frozen=True)
class StrategyFigures:
    algorithm: str
    conversion: ProportionStats  # sessions, converted sessions
    satisfaction: SampleStats  # rated sessions: the ratings' count, sum and sum of squares

    @property
    def personalized(self) -> bool:
        return self.algorithm in PERSONALIZED_ALGORITHMS


@dataclass(frozen=True)
class ArmFigures:
    algorithms: tuple[str, ...]
    conversion: ProportionStats
    satisfaction: SampleStats


def arm_figures(strategies: tuple[StrategyFigures, ...], *, personalized: bool) -> ArmFigures:
    arm = [s for s in strategies if s.personalized == personalized]
    return ArmFigures(
        algorithms=tuple(sorted(s.algorithm for s in arm)),
        conversion=ProportionStats(
            n=sum(s.conversion.n for s in arm), conversions=sum(s.conversion.conversions for s in arm)
        ),
        satisfaction=SampleStats(
            n=sum(s.satisfaction.n for s in arm),
            sum=float(sum(s.satisfaction.sum for s in arm)),
            sum_squares=float(sum(s.satisfaction.sum_squares for s in arm)),
        ),
    )


@dataclass(frozen=True)
class FunnelFigures:
    """Sessions that reached each step or a later one (a reported outcome implies a choice, a rating of 4
    or 5 a conversion), so the steps never increase; `rated` are the converted sessions with a rating."""

    recommended: int
    viewed: int
    chosen: int
    converted: int
    satisfied: int
    rated: int

    def steps(self) -> tuple[tuple[str, int], ...]:
        return tuple((name, getattr(self, name)) for name in FUNNEL_STEPS)


@dataclass(frozen=True)
class TimeToMatch:
    """Hours from a session to its conversion: the outcome's conversion time where the platform reported
    it, else the customer's time to decision on the session."""

    matches: int
    from_conversion_time: int
    from_decision_time: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def source(self) -> str | None:
        if self.from_conversion_time and self.from_decision_time:
            return "mixed"
        if self.from_conversion_time:
            return "conversion_time"
        return "decision_time" if self.from_decision_time else None


@dataclass(frozen=True)
class InsightFigures:
    strategies: tuple[StrategyFigures, ...]
    funnel: FunnelFigures
    satisfaction_first_half: SampleStats  # ratings of the sessions of the first half of the period
    satisfaction_second_half: SampleStats
    time_to_match: TimeToMatch

    @property
    def personalized(self) -> ArmFigures:
        return arm_figures(self.strategies, personalized=True)

    @property
    def non_personalized(self) -> ArmFigures:
        return arm_figures(self.strategies, personalized=False)


def session_list(
    *, customer: CustomerAccount | None, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[RecommendationSession]:
    """The sessions a caller may read: its own, or all of them (customer=None, for staff)."""
    queryset = RecommendationSession.objects.all()
    if customer is not None:
        queryset = queryset.filter(customer=customer)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lte=until)
    return queryset


_RATED = Q(outcome__satisfaction__isnull=False)
_RATING_SQUARED = F("outcome__satisfaction") * F("outcome__satisfaction")


def _rating_aggregates(prefix: str, condition: Q) -> dict:
    return {
        f"{prefix}_n": Count("pk", filter=condition),
        f"{prefix}_sum": Sum("outcome__satisfaction", filter=condition),
        f"{prefix}_squares": Sum(_RATING_SQUARED, filter=condition),
    }


def _sample(row: dict, prefix: str) -> SampleStats:
    return SampleStats(
        n=int(row[f"{prefix}_n"] or 0),
        sum=float(row[f"{prefix}_sum"] or 0),
        sum_squares=float(row[f"{prefix}_squares"] or 0),
    )


def _strategy_figures(sessions: QuerySet[RecommendationSession]) -> tuple[StrategyFigures, ...]:
    rows = (
        sessions.order_by("algorithm_used")
        .values("algorithm_used")
        .annotate(
            sessions=Count("pk"),
            conversions=Count("pk", filter=Q(outcome__converted=True)),
            **_rating_aggregates("rating", _RATED),
        )
    )
    return tuple(
        StrategyFigures(
            algorithm=row["algorithm_used"],
            conversion=ProportionStats(n=row["sessions"], conversions=row["conversions"]),
            satisfaction=_sample(row, "rating"),
        )
        for row in rows
    )


def _funnel_and_trend(
    sessions: QuerySet[RecommendationSession], middle: datetime
) -> tuple[FunnelFigures, SampleStats, SampleStats]:
    """The journey funnel and the ratings of each half of the period, in one query."""
    choice = Interaction.objects.filter(session=OuterRef("pk"), chosen_manufacturer_id__isnull=False)
    view = Interaction.objects.filter(
        session=OuterRef("pk"), interaction_data__viewed_manufacturer_ids__0__isnull=False
    )
    satisfied = Q(outcome__satisfaction__gte=SATISFIED_RATING)
    converted = Q(outcome__converted=True) | satisfied
    chosen = Q(Exists(choice)) | Q(outcome__isnull=False)
    viewed = Q(Exists(view)) | chosen
    row = sessions.aggregate(
        recommended=Count("pk"),
        viewed=Count("pk", filter=viewed),
        chosen=Count("pk", filter=chosen),
        converted=Count("pk", filter=converted),
        satisfied=Count("pk", filter=satisfied),
        rated=Count("pk", filter=converted & _RATED),
        **_rating_aggregates("first", _RATED & Q(created_at__lt=middle)),
        **_rating_aggregates("second", _RATED & Q(created_at__gte=middle)),
    )
    funnel = FunnelFigures(**{name: row[name] for name in (*FUNNEL_STEPS, "rated")})
    return funnel, _sample(row, "first"), _sample(row, "second")


def _time_to_match(sessions: QuerySet[RecommendationSession]) -> TimeToMatch:
    decision = Interaction.objects.filter(session=OuterRef("pk"), chosen_manufacturer_id__isnull=False)
    rows = (
        sessions.filter(outcome__converted=True)
        .annotate(
            conversion_delay=ExpressionWrapper(
                F("outcome__converted_at") - F("created_at"), output_field=DurationField()
            ),
            decision_seconds=Subquery(decision.values("time_to_decision_seconds")[:1]),
        )
        .values_list("conversion_delay", "decision_seconds")
    )
    from_conversion, from_decision = [], []
    for delay, seconds in rows:
        if delay is not None:
            from_conversion.append(max(delay.total_seconds(), 0.0))
        elif seconds is not None:
            from_decision.append(seconds)
    hours = np.asarray(from_conversion + from_decision, dtype=float) / 3600.0
    return TimeToMatch(
        matches=int(hours.size),
        from_conversion_time=len(from_conversion),
        from_decision_time=len(from_decision),
        median_hours=round(float(np.median(hours)), 3) if hours.size else None,
        p90_hours=round(float(np.percentile(hours, 90)), 3) if hours.size else None,
    )


def insight_figures_get(*, customer: CustomerAccount | None, since: datetime, until: datetime) -> InsightFigures:
    """The figures of the sessions created in [since, until]: the customer's own, or all (customer=None)."""
    sessions = session_list(customer=customer, since=since, until=until)
    funnel, first_half, second_half = _funnel_and_trend(sessions, since + (until - since) / 2)
    return InsightFigures(
        strategies=_strategy_figures(sessions),
        funnel=funnel,
        satisfaction_first_half=first_half,
        satisfaction_second_half=second_half,
        time_to_match=_time_to_match(sessions),
    )


# --- insight sentences (pure: figures in, sentences out) ---------------------------------------------------

MIN_ARM_SESSIONS = 20  # sessions each side needs before personalization's conversion is judged
MIN_RATINGS = 10  # ratings each side needs before a satisfaction difference or trend is called
MIN_STEP_SESSIONS = 20  # sessions a funnel step starts from before its drop-off is called out
MIN_STRATEGY_SESSIONS = 30  # sessions a strategy needs before it can be named the best


@dataclass(frozen=True)
class Insight:
    kind: str
    message: str
    evidence: dict


def _test_evidence(result: TestResult) -> dict:
    return {
        "effect": round(result.effect, 6),
        "ci_low": round(result.ci_low, 6),
        "ci_high": round(result.ci_high, 6),
        "p_value": round(result.p_value, 6),
    }


def _personalization_conversion(treated: ProportionStats, control: ProportionStats) -> Insight | None:
    if min(treated.n, control.n) < MIN_ARM_SESSIONS:
        return None
    result = compare(control, treated, relative=True)
    if result is None or not result.significant:
        return None
    better = result.effect > 0
    action = (
        "Extend personal ranking to more customers and contexts."
        if better
        else "Review the personal weights before extending them; the segment ranking does better."
    )
    return Insight(
        "personalization_conversion",
        f"Personalized sessions convert significantly {'better' if better else 'worse'} than the others: "
        f"{treated.mean:.1%} of {treated.n} against {control.mean:.1%} of {control.n} (relative lift "
        f"{result.effect:+.0%}, 95% CI {result.ci_low:+.0%} to {result.ci_high:+.0%}). {action}",
        {
            "personalized_sessions": treated.n,
            "personalized_conversions": treated.conversions,
            "other_sessions": control.n,
            "other_conversions": control.conversions,
            **_test_evidence(result),
        },
    )


def _personalization_satisfaction(treated: SampleStats, control: SampleStats) -> Insight | None:
    if min(treated.n, control.n) < MIN_RATINGS:
        return None
    result = compare(control, treated, relative=False)
    if result is None or not result.significant:
        return None
    better = result.effect > 0
    action = (
        "Personal ranking finds manufacturers customers are happier with."
        if better
        else "Personal ranking picks manufacturers that disappoint: weigh quality and reliability more."
    )
    return Insight(
        "personalization_satisfaction",
        f"Personalized sessions are rated significantly {'higher' if better else 'lower'}: {treated.mean:.2f} "
        f"of 5 over {treated.n} ratings against {control.mean:.2f} over {control.n} (difference "
        f"{result.effect:+.2f}, 95% CI {result.ci_low:+.2f} to {result.ci_high:+.2f}). {action}",
        {"personalized_ratings": treated.n, "other_ratings": control.n, **_test_evidence(result)},
    )


_STEP_ADVICE = {
    "viewed": (
        "recommended sessions had no view or choice",
        "Make the top of the list and its explanations more compelling.",
    ),
    "chosen": (
        "sessions with views ended without a choice",
        "The lists miss what these customers want: review the candidates and the strategy behind them.",
    ),
    "converted": (
        "chosen sessions did not become a contract",
        "Check the chosen manufacturers' capacity, prices and response times.",
    ),
    "satisfied": (
        "rated contracts were rated below 4 of 5",
        "Follow up on delivery and quality with the manufacturers behind them.",
    ),
}


def _funnel_drop_off(funnel: FunnelFigures) -> Insight | None:
    """The step that loses the largest share of the sessions that reached the one before it. Satisfaction
    counts only the rated contracts: a contract not rated yet is not lost."""
    losses = []
    for (previous, reached), (step, count) in pairwise(funnel.steps()):
        if step == "satisfied":
            reached = funnel.rated
        if reached >= MIN_STEP_SESSIONS and reached > count:
            losses.append((1.0 - count / reached, step, previous, reached, reached - count))
    if not losses:
        return None
    share, step, previous, reached, lost = max(losses, key=lambda loss: loss[0])
    what, action = _STEP_ADVICE[step]
    return Insight(
        "funnel_drop_off",
        f"The journey loses most between {previous} and {step}: {share:.0%} of {reached} {what} ({lost}). {action}",
        {"step": step, "from_step": previous, "reached_previous": reached, "lost": lost, "drop_off": round(share, 6)},
    )


def _best_strategy(strategies: tuple[StrategyFigures, ...]) -> Insight | None:
    eligible = [s for s in strategies if s.conversion.n >= MIN_STRATEGY_SESSIONS]
    if len(eligible) < 2:
        return None
    best, runner_up = sorted(eligible, key=lambda s: (-s.conversion.mean, s.algorithm))[:2]
    result = compare(runner_up.conversion, best.conversion, relative=True)
    if result is None or not result.significant:
        return None
    return Insight(
        "best_strategy",
        f"The {best.algorithm} strategy converts best: {best.conversion.mean:.1%} of {best.conversion.n} sessions "
        f"against {runner_up.conversion.mean:.1%} of {runner_up.conversion.n} for {runner_up.algorithm}, the next "
        f"best (relative lift {result.effect:+.0%}, 95% CI {result.ci_low:+.0%} to {result.ci_high:+.0%}). "
        "Favour it in the contexts where it was used.",
        {
            "strategy": best.algorithm,
            "sessions": best.conversion.n,
            "conversions": best.conversion.conversions,
            "runner_up": runner_up.algorithm,
            "runner_up_sessions": runner_up.conversion.n,
            "runner_up_conversions": runner_up.conversion.conversions,
            **_test_evidence(result),
        },
    )


def _satisfaction_trend(first_half: SampleStats, second_half: SampleStats) -> Insight | None:
    if min(first_half.n, second_half.n) < MIN_RATINGS:
        return None
    result = compare(first_half, second_half, relative=False)
    if result is None or not result.ci_high < 0:
        return None
    return Insight(
        "satisfaction_trend",
        f"Satisfaction is trending down: {second_half.mean:.2f} of 5 over {second_half.n} rated sessions of the "
        f"second half of the period against {first_half.mean:.2f} over {first_half.n} of the first half "
        f"(difference {result.effect:+.2f}, 95% CI {result.ci_low:+.2f} to {result.ci_high:+.2f}). Look at the "
        "manufacturers and strategies behind the recent ratings.",
        {"first_half_ratings": first_half.n, "second_half_ratings": second_half.n, **_test_evidence(result)},
    )


def insight_sentences(figures: InsightFigures) -> tuple[Insight, ...]:
    """Actionable sentences, each only when its evidence holds (enough sessions, a significant test)."""
    personalized, others = figures.personalized, figures.non_personalized
    candidates = (
        _personalization_conversion(personalized.conversion, others.conversion),
        _personalization_satisfaction(personalized.satisfaction, others.satisfaction),
        _funnel_drop_off(figures.funnel),
        _best_strategy(figures.strategies),
        _satisfaction_trend(figures.satisfaction_first_half, figures.satisfaction_second_half),
    )
    return tuple(insight for insight in candidates if insight is not None)


# --- the insights body ---------------------------------------------------------------------------------------


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _interval_body(interval: Interval | None) -> dict | None:
    return None if interval is None else {"low": round(interval.low, 6), "high": round(interval.high, 6)}


def _arm_body(arm: ArmFigures) -> dict:
    conversion, satisfaction = arm.conversion, arm.satisfaction
    return {
        "algorithms": list(arm.algorithms),
        "sessions": conversion.n,
        "conversions": conversion.conversions,
        "conversion_rate": _rounded(conversion.mean) if conversion.n else None,
        "conversion_rate_ci": _interval_body(mean_interval(conversion, lower=0.0, upper=1.0)),
        "rated_sessions": satisfaction.n,
        "mean_satisfaction": _rounded(satisfaction.mean) if satisfaction.n else None,
        "mean_satisfaction_ci": _interval_body(mean_interval(satisfaction, lower=1.0, upper=5.0)),
    }


def _test_body(result: TestResult | None) -> dict | None:
    return None if result is None else {**_test_evidence(result), "significant": result.significant}


def _funnel_body(funnel: FunnelFigures) -> dict:
    steps, previous = [], None
    for name, count in funnel.steps():
        steps.append(
            {
                "step": name,
                "sessions": count,
                "share_of_recommended": _rounded(count / funnel.recommended) if funnel.recommended else None,
                "drop_off": _rounded(1.0 - count / previous) if previous else None,
            }
        )
        previous = count
    return {"steps": steps, "rated_conversions": funnel.rated}


def insights_get(*, customer: CustomerAccount | None, days: int, now: datetime | None = None) -> dict:
    """The insights body of the last `days` days: a customer's own figures, or the platform's (None)."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    figures = insight_figures_get(customer=customer, since=since, until=now)
    personalized, others = figures.personalized, figures.non_personalized
    time_to_match = figures.time_to_match
    return {
        "scope": "platform" if customer is None else "customer",
        "customer_id": None if customer is None else customer.pk,
        "period": {"days": days, "start": since, "end": now},
        "performance": {
            "personalized": _arm_body(personalized),
            "non_personalized": _arm_body(others),
            "conversion_lift": _test_body(compare(others.conversion, personalized.conversion, relative=True)),
            "satisfaction_difference": _test_body(
                compare(others.satisfaction, personalized.satisfaction, relative=False)
            ),
        },
        "strategies": [
            {
                "algorithm": s.algorithm,
                "personalized": s.personalized,
                "sessions": s.conversion.n,
                "conversions": s.conversion.conversions,
                "conversion_rate": _rounded(s.conversion.mean),
                "rated_sessions": s.satisfaction.n,
                "mean_satisfaction": _rounded(s.satisfaction.mean) if s.satisfaction.n else None,
            }
            for s in sorted(figures.strategies, key=lambda s: (-s.conversion.n, s.algorithm))
        ],
        "funnel": _funnel_body(figures.funnel),
        "time_to_match": {
            "matches": time_to_match.matches,
            "median_hours": time_to_match.median_hours,
            "p90_hours": time_to_match.p90_hours,
            "source": time_to_match.source,
            "from_conversion_time": time_to_match.from_conversion_time,
            "from_decision_time": time_to_match.from_decision_time,
        },
        "insights": [asdict(insight) for insight in insight_sentences(figures)],
    }
