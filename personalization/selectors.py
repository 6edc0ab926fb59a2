"""Reads of the personalization engine: a customer's profile in readable form, and the insights into how
personalization performs (against the other strategies, along the customer journey, in time to a match).

The insight figures come from a few aggregate queries whatever the number of sessions; their tests and
sentences are the framework-free `personalization.insights`, so that each rule is tested without a database.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from core.rows import concrete_field_names, instance_from_row, select_list
from experiments.stats import (
    ProportionStats,
    SampleStats,
)
from marketplace.models import CustomerAccount, Manufacturer
from marketplace.vocabulary import FACTOR_LABELS, FACTORS, PROCESSES, REGIONS
from personalization import policy
from personalization.insights import (
    FUNNEL_STEPS,
    SATISFIED_RATING,
    FunnelFigures,
    InsightFigures,
    StrategyFigures,
    TimeToMatch,
    insights_body,
)
from personalization.models import CustomerPersonalizationProfile, Interaction, RecommendationSession
from personalization.policy import ProfileView

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


def acceptance_rate(*, choices: int, sessions: int) -> float:
    """The recommendation acceptance rate: sessions with a choice over all sessions (0 before the first)."""
    return min(choices / sessions, 1.0) if sessions else 0.0


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
            "recommendation_acceptance_rate": acceptance_rate(
                choices=profile.total_choices,
                sessions=RecommendationSession.objects.filter(customer=customer).count(),
            ),
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


# --- the recommendation pipeline's reads: the customer, its profile, its sessions --------------------------


# What the recommendation pipeline reads of a profile: what `profile_view` classifies by, the belief and the
# patterns it ranks by, and what the decision log records. The other fields (the history of weights, the prior,
# the decision speed, ...) stay deferred; the pipeline's statement-count tests fail if it touches one.
RANKING_PROFILE_FIELDS = (
    "id",  # first in the model's order: the column that is NULL when the outer join finds no profile
    "customer_id",
    "preference_state",
    "behavior_patterns",
    "weights_version",
    "personal_confidence",
    "explanation_preference",
    "risk_tolerance",
    "complexity_comfort_level",
    "total_choices",
    "recent_satisfaction",
    "average_satisfaction",
    "last_interaction_at",
    "strategy_performance",
    "churn_risk",
)


@functools.cache
def _ranking_read_sql(*, by_user: bool) -> str:
    """The SQL of the pipeline's profile read, written once per process from the models' metadata: by the
    customer's id, or (`by_user`) with the customer itself, by its user (an outer join: a customer has no
    profile before its first recommendation). As querysets, the same reads took about 0.4 ms of Python to build
    and compile, and read every field of the profile."""
    quote = connection.ops.quote_name
    profiles, customers = CustomerPersonalizationProfile._meta, CustomerAccount._meta
    profile_customer = quote(profiles.get_field("customer").column)
    profile_columns = select_list("p", CustomerPersonalizationProfile, RANKING_PROFILE_FIELDS)
    if not by_user:
        return f"SELECT {profile_columns} FROM {quote(profiles.db_table)} AS p WHERE p.{profile_customer} = %s"
    return (
        f"SELECT {select_list('c', CustomerAccount, concrete_field_names(CustomerAccount))}, {profile_columns}"
        f" FROM {quote(customers.db_table)} AS c"
        f" LEFT OUTER JOIN {quote(profiles.db_table)} AS p ON p.{profile_customer} = c.{quote(customers.pk.column)}"
        f" WHERE c.{quote(customers.get_field('user').column)} = %s"
    )


def ranking_profile_get(*, customer: CustomerAccount) -> CustomerPersonalizationProfile | None:
    """What the recommendation pipeline reads of `customer`'s profile (RANKING_PROFILE_FIELDS), in one statement;
    None before its first recommendation."""
    with connection.cursor() as cursor:
        cursor.execute(_ranking_read_sql(by_user=False), [customer.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    profile = instance_from_row(CustomerPersonalizationProfile, RANKING_PROFILE_FIELDS, row)
    profile.customer = customer
    return profile


def customer_with_profile_get(
    *, user: AbstractBaseUser
) -> tuple[CustomerAccount | None, CustomerPersonalizationProfile | None]:
    """`user`'s customer account (None for a user without one) and what the pipeline reads of its profile (None
    before its first recommendation), in one statement: the recommendation endpoint's first read."""
    with connection.cursor() as cursor:
        cursor.execute(_ranking_read_sql(by_user=True), [user.pk])
        row = cursor.fetchone()
    if row is None:
        return None, None
    width = len(concrete_field_names(CustomerAccount))
    customer = instance_from_row(CustomerAccount, concrete_field_names(CustomerAccount), row[:width])
    if row[width] is None:  # the profile's id: the customer has no profile yet
        return customer, None
    profile = instance_from_row(CustomerPersonalizationProfile, RANKING_PROFILE_FIELDS, row[width:])
    profile.customer = customer
    customer.personalization_profile = profile
    return customer, profile


def profile_view(profile: CustomerPersonalizationProfile, *, now: datetime | None = None) -> ProfileView:
    now = now or timezone.now()
    days = None if profile.last_interaction_at is None else (now - profile.last_interaction_at).total_seconds() / 86400
    performance = {
        name: (int(record.get("sessions", 0)), int(record.get("conversions", 0)))
        for name, record in profile.strategy_performance.items()
    }
    return ProfileView(
        confidence=profile.personal_confidence,
        choices=profile.total_choices,
        recent_satisfaction=tuple(float(r) for r in profile.recent_satisfaction),
        average_satisfaction=profile.average_satisfaction,
        days_since_last_interaction=days,
        complexity_comfort=profile.complexity_comfort_level,
        risk_tolerance=profile.risk_tolerance,
        strategy_performance=performance,
        churn_risk=profile.churn_risk,
    )


def session_get(
    *, session_id, customer: CustomerAccount | None = None, user: AbstractBaseUser | None = None
) -> RecommendationSession | None:
    """A session by id (only among `customer`'s own, or the own of `user`'s customer account, when given),
    with its customer."""
    queryset = RecommendationSession.objects.select_related("customer")
    if customer is not None:
        queryset = queryset.filter(customer=customer)
    if user is not None:
        queryset = queryset.filter(customer__user=user)
    try:  # get, not first: a lookup by primary key needs no ORDER BY
        return queryset.get(pk=session_id)
    except RecommendationSession.DoesNotExist:
        return None


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


# --- insight figures ---------------------------------------------------------------------------------------


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


def insights_get(*, customer: CustomerAccount | None, days: int, now: datetime | None = None) -> dict:
    """The insights of the last `days` days: a customer's own figures, or the platform's (None)."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    figures = insight_figures_get(customer=customer, since=since, until=now)
    return insights_body(
        figures, customer_id=None if customer is None else customer.pk, days=days, since=since, until=now
    )
