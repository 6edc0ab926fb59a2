"""Customer profiles: created from the segment's prior, updated by every feedback event."""

from __future__ import annotations

import base64
import contextlib
import functools
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F, FloatField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Greatest, Least
from django.utils import timezone

from core.errors import DomainError
from core.rows import instance_from_row, select_list, selected_fields
from marketplace.models import CustomerAccount
from marketplace.scoring import COMPLEXITY_LEVELS, REGION_INDEX, STRATEGIES
from marketplace.vocabulary import FACTORS
from personalization import learning
from personalization.models import (
    CustomerPersonalizationProfile,
    ExplanationPreference,
    Interaction,
    RecommendationSession,
    SegmentPreference,
)

DEFAULT_UTILITY_SCALE = 20.0  # the prior's scale before any segment has been fitted
DEFAULT_FACTOR_LOG_SD = 1.0  # customers' weights differ by about a factor e from the segment's
DEFAULT_REGION_SD = 3.0
WEIGHT_FLOOR_SHARE = 0.01  # no factor weight of a prior below this share of their sum
EVOLUTION_SNAPSHOTS = 10  # the last snapshots kept on the profile, which every choice rewrites (the whole
# history is the interactions' update_summary: the weights before and after each event, and the confidence)
RECENT_RATINGS = 10
MANUFACTURER_PATTERNS = 200  # manufacturers kept in the behaviour patterns (the profile is rewritten by every update)
HIGH_VALUE_ORDER = 50_000.0  # the scale of order value at which learning slows (see risk_adjusted_step)


@dataclass(frozen=True)
class SegmentPrior:
    mean: np.ndarray
    sd: np.ndarray
    position_bias: float


def default_segment_prior() -> SegmentPrior:
    """Before any segment has been fitted: the balanced strategy's weights as the mean weights."""
    weights = STRATEGIES["balanced"] * DEFAULT_UTILITY_SCALE
    log_sd = np.full(learning.N_FACTORS, DEFAULT_FACTOR_LOG_SD)
    floor = WEIGHT_FLOOR_SHARE * float(weights.sum())
    mean = np.concatenate([learning.log_normal_prior_mean(weights, log_sd, floor=floor), np.zeros(learning.N_REGIONS)])
    sd = np.concatenate([log_sd, np.full(learning.N_REGIONS, DEFAULT_REGION_SD)])
    return SegmentPrior(mean, sd, learning.DEFAULT_POSITION_BIAS)


def segment_prior_get(*, segment: str) -> SegmentPrior:
    row = SegmentPreference.objects.filter(segment=segment).first()
    if row is None:
        return default_segment_prior()
    return SegmentPrior(
        np.asarray(row.prior_mean, dtype=float), np.asarray(row.prior_sd, dtype=float), row.position_bias
    )


_UPPER = np.triu_indices(learning.DIMENSIONS)  # the precision's upper triangle, row by row
_FROM_UPPER = np.zeros((learning.DIMENSIONS, learning.DIMENSIONS), dtype=int)  # each entry's place in it
_FROM_UPPER[_UPPER] = _FROM_UPPER.T[_UPPER] = np.arange(len(_UPPER[0]))


def state_to_json(state: learning.PreferenceState) -> dict:
    """The belief as stored: the mean as numbers, and the precision (symmetric) as its upper triangle in
    base64 of little-endian float64, which is exact. As 196 decimal numbers, the precision took about 150 us to
    write and 110 us to read on every choice, and as long again for PostgreSQL to parse into jsonb."""
    upper = np.asarray(state.precision, dtype="<f8")[_UPPER]
    return {
        "mean": list(state.mean),
        "precision_upper": base64.b64encode(upper.tobytes()).decode("ascii"),
        "choices": state.choices,
    }


def state_from_json(data: dict) -> learning.PreferenceState:
    upper = np.frombuffer(base64.b64decode(data["precision_upper"]), dtype="<f8")
    return learning.PreferenceState(
        mean=tuple(data["mean"]),
        precision=tuple(map(tuple, upper[_FROM_UPPER].tolist())),
        choices=int(data.get("choices", 0)),
    )


def factor_map(values: np.ndarray) -> dict[str, float]:
    """One number per ranking factor, rounded for storage: weights, features or contributions."""
    return dict(zip(FACTORS, np.round(values, 6).tolist()))


def profile_get_or_create(*, customer: CustomerAccount) -> CustomerPersonalizationProfile:
    """The customer's profile, created from its segment's prior on first use."""
    try:  # get, not first: a unique lookup needs no ORDER BY
        return CustomerPersonalizationProfile.objects.get(customer=customer)
    except CustomerPersonalizationProfile.DoesNotExist:
        pass
    prior = segment_prior_get(segment=customer.segment)
    state = learning.prior_state(prior.mean, prior.sd)
    try:
        with transaction.atomic():
            return CustomerPersonalizationProfile.objects.create(
                customer=customer,
                personal_weights=factor_map(learning.effective_weights(state)),
                preference_state=state_to_json(state),
                prior_state={**state_to_json(state), "position_bias": prior.position_bias},
            )
    except IntegrityError:  # created by a concurrent request
        return CustomerPersonalizationProfile.objects.get(customer=customer)


def profile_lock(*, customer: CustomerAccount) -> CustomerPersonalizationProfile:
    """The customer's profile, row-locked for the rest of the transaction (created first if need be).

    Outcomes take this lock first, and feedback when it lost the race for an unchanged profile (see
    `_optimistically`): repeats and concurrent copies of an event are then seen by the checks that follow."""
    return profile_read(customer=customer, lock=True)


def profile_read(*, customer: CustomerAccount, lock: bool = False) -> CustomerPersonalizationProfile:
    """The customer's profile (created first if need be), row-locked with `lock`."""
    queryset = CustomerPersonalizationProfile.objects.filter(customer=customer)
    if lock:
        queryset = queryset.select_for_update()
    try:  # get, not first: a unique lookup needs no ORDER BY
        return queryset.get()
    except CustomerPersonalizationProfile.DoesNotExist:
        profile_get_or_create(customer=customer)
        return queryset.get()


def session_with_profile(
    *, session_id: uuid.UUID, user: AbstractBaseUser, lock: bool = False
) -> RecommendationSession | None:
    """`user`'s own session by id, with its customer and the customer's profile: the feedback endpoint's reads in
    one statement (the profile is created first if the customer has none yet). With `lock`, the
    profile's row is locked for the rest of the transaction (and re-read if it changed while the statement
    waited; the session and the customer come from the statement's start, which is all they need, since a
    session is never changed). None when the user has no such session."""
    read = functools.partial(_session_with_profile_read, session_id=session_id, user=user, lock=lock)
    session = read()
    if session is not None:
        return session
    try:  # no row: no such session of the user's, or its customer has no profile yet (a loaded history's)
        customer = CustomerAccount.objects.get(user=user, recommendation_sessions__pk=session_id)
    except CustomerAccount.DoesNotExist:
        return None
    profile_get_or_create(customer=customer)
    return read()


@functools.cache
def _feedback_read_sql(*, lock: bool) -> str:
    """The SQL of `_session_with_profile_read`, written once per process from the models' metadata.

    Written as SQL, not as a queryset: building and compiling the ORM's query of the three joined models took
    about 0.85 ms of Python on every feedback, more than PostgreSQL took to run it (0.7 ms). The profile is
    joined with an inner join, since PostgreSQL locks no row on the nullable side of an outer join."""
    quote = connection.ops.quote_name
    sessions, customers, profiles = (
        RecommendationSession._meta,
        CustomerAccount._meta,
        CustomerPersonalizationProfile._meta,
    )

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    customer_id = column(customers, "id")

    select = [
        select_list("s", RecommendationSession, FEEDBACK_SESSION_FIELDS),
        select_list("p", CustomerPersonalizationProfile, FEEDBACK_PROFILE_FIELDS),
    ]
    sql = (
        f"SELECT {', '.join(select)} FROM {quote(sessions.db_table)} AS s"
        f" INNER JOIN {quote(customers.db_table)} AS c ON c.{customer_id} = s.{column(sessions, 'customer')}"
        f" INNER JOIN {quote(profiles.db_table)} AS p ON p.{column(profiles, 'customer')} = c.{customer_id}"
        f" WHERE c.{column(customers, 'user')} = %s AND s.{column(sessions, 'id')} = %s"
        " LIMIT 1"  # one row at most (the session's key)
    )
    if lock and connection.features.has_select_for_update_of:  # as the ORM, which leaves it out where it is absent
        sql += " FOR UPDATE OF p"
    return sql


def _session_with_profile_read(
    *, session_id: uuid.UUID, user: AbstractBaseUser, lock: bool
) -> RecommendationSession | None:
    pk = RecommendationSession._meta.pk.get_db_prep_value(session_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_feedback_read_sql(lock=lock), [user.pk, pk])
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(selected_fields(RecommendationSession, FEEDBACK_SESSION_FIELDS))
    end = width + len(selected_fields(CustomerPersonalizationProfile, FEEDBACK_PROFILE_FIELDS))
    session = instance_from_row(RecommendationSession, FEEDBACK_SESSION_FIELDS, row[:width])
    profile = instance_from_row(CustomerPersonalizationProfile, FEEDBACK_PROFILE_FIELDS, row[width:end])
    customer = CustomerAccount.from_db(connection.alias, ["id"], [session.customer_id])
    session.customer = customer
    customer.personalization_profile = profile
    return session


def profiles_churn_risk_set(*, risks: dict[int, float]) -> int:
    """Store the churn model's risk of each customer (customer id -> risk) on their profiles, which the
    pipeline reads to classify at-risk customers. Returns how many profiles were updated."""
    profiles = list(CustomerPersonalizationProfile.objects.filter(customer_id__in=list(risks)))
    missing = set(risks) - {p.customer_id for p in profiles}
    for customer in CustomerAccount.objects.filter(pk__in=missing):  # scored before its first recommendation
        profiles.append(profile_get_or_create(customer=customer))
    for profile in profiles:
        profile.churn_risk = float(risks[profile.customer_id])
    CustomerPersonalizationProfile.objects.bulk_update(profiles, ["churn_risk"], batch_size=500)
    return len(profiles)


def profiles_acceptance_rate_refresh(*, customer_ids: Iterable[int] | None = None) -> int:
    """Store the recommendation acceptance rate of every profile (of `customer_ids`' only, when given): its
    choices over its customer's sessions, as `acceptance_rate` computes it. A periodic task keeps the stored
    rates; the readable profile computes its own when read. A choice does not update it: counting the
    customer's sessions on every choice cost each feedback more the more sessions its customer had (0.6 ms at
    a thousand). Writes only the profiles whose rate changed, in one statement; returns how many."""
    sessions = (
        RecommendationSession.objects.filter(customer=OuterRef("customer_id"))
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    counted = Greatest(Coalesce(Subquery(sessions), 0), 1)  # no session yet: no choice either, so 0 / 1
    rate = Least(Cast(F("total_choices"), FloatField()) / Cast(counted, FloatField()), Value(1.0))
    profiles = CustomerPersonalizationProfile.objects.all()
    if customer_ids is not None:
        profiles = profiles.filter(customer_id__in=list(customer_ids))
    return profiles.exclude(recommendation_acceptance_rate=rate).update(recommendation_acceptance_rate=rate)


def risk_adjusted_step(order_value: float) -> float:
    """Learn more cautiously from high-value orders: 1 for small ones, 1/2 at 9 x HIGH_VALUE_ORDER."""
    return 1.0 / (1.0 + math.log10(1.0 + max(order_value, 0.0) / HIGH_VALUE_ORDER))


def session_options(session: RecommendationSession) -> tuple[np.ndarray, list[int]]:
    """The learning features of the shown items (best first) and their manufacturer ids."""
    candidates = sorted(session.candidates, key=lambda c: c["rank"])
    # reshaped so that a session that showed nothing is an empty (0, factors) matrix, not a 1-D array
    features = np.array([[c["features"][f] for f in FACTORS] for c in candidates], dtype=float).reshape(
        len(candidates), len(FACTORS)
    )
    regions = np.array([REGION_INDEX[c["region"]] for c in candidates], dtype=int)
    return learning.option_matrix(features, regions), [int(c["manufacturer_id"]) for c in candidates]


def pattern_counts(patterns: dict, group: str, key: str) -> dict:
    """The counts of one manufacturer, region or process in the behaviour patterns, created on first use."""
    return patterns.setdefault(group, {}).setdefault(
        str(key), {"chosen": 0, "rejected": 0, "successes": 0, "failures": 0}
    )


def manufacturer_patterns_bound(patterns: dict, limit: int = MANUFACTURER_PATTERNS) -> None:
    """Keep at most `limit` manufacturers in the behaviour patterns: those with the most outcomes
    (successes and failures, which the ranking reinforces), then the most chosen, then the most rejected;
    among equals the most recently added stay. Without a bound every manufacturer a customer ever rejected
    would stay on the profile, and every update would read and rewrite them all."""
    records = patterns.get("manufacturers", {})
    if len(records) <= limit:
        return
    order = list(records)
    recency = {key: i for i, key in enumerate(order)}

    def evidence(key: str) -> tuple[int, int, int, int]:
        r = records[key]
        return (r.get("successes", 0) + r.get("failures", 0), r.get("chosen", 0), r.get("rejected", 0), recency[key])

    kept = set(sorted(order, key=evidence)[-limit:])
    patterns["manufacturers"] = {key: records[key] for key in order if key in kept}


def running_mean(mean: float | None, count: int, value: float) -> float:
    return value if mean is None or count <= 1 else mean + (value - mean) / count


@dataclass(frozen=True)
class FeedbackResult:
    interaction: Interaction
    profile: CustomerPersonalizationProfile
    duplicate: bool


FeedbackT = TypeVar("FeedbackT")


def _validate_choice(session: RecommendationSession, shown_ids: list[int], choice: dict) -> tuple[int, int]:
    chosen_id = choice["chosen_manufacturer_id"]
    if chosen_id not in shown_ids:
        raise DomainError(
            "The chosen manufacturer was not shown in this session.", field="choice_data.chosen_manufacturer_id"
        )
    position = shown_ids.index(chosen_id)
    rank = choice.get("chosen_rank")
    if rank is not None and rank != position + 1:
        raise DomainError(
            f"The chosen manufacturer was shown at rank {position + 1}, not {rank}.", field="choice_data.chosen_rank"
        )
    not_shown = sorted(set(choice.get("rejected_manufacturer_ids", ())) - set(shown_ids))
    if not_shown:
        raise DomainError(
            f"Manufacturers {not_shown} were not shown in this session.", field="choice_data.rejected_manufacturer_ids"
        )
    if chosen_id in choice.get("rejected_manufacturer_ids", ()):
        raise DomainError(
            "A manufacturer cannot be both chosen and rejected.", field="choice_data.rejected_manufacturer_ids"
        )
    return chosen_id, position


OPTIMISTIC_ATTEMPTS = 3  # feedback's tries on an unlocked read before it takes the profile's lock


class _ProfileChanged(Exception):
    """The profile was written after feedback read it: what feedback learnt is not written."""


def _optimistically(attempt: Callable[[bool], FeedbackT]) -> FeedbackT:
    """Feedback's concurrency: `attempt(lock)` reads the profile, learns and writes in one statement that
    applies only if the profile's revision is still the one read, else raises _ProfileChanged. Without the lock
    first, so that the common case is three round trips and no transaction (the lock cost two more, BEGIN and
    COMMIT, besides a statement of its own for the insert); after OPTIMISTIC_ATTEMPTS lost races, with the lock,
    inside a transaction, where nothing else can change the row."""
    for _ in range(OPTIMISTIC_ATTEMPTS):
        try:
            return attempt(False)
        except _ProfileChanged:
            continue
    with transaction.atomic():
        return attempt(True)


def profile_apply_feedback(
    *,
    customer: CustomerAccount,
    session: RecommendationSession,
    event_id: str,
    interaction_data: dict,
    choice_data: dict | None,
) -> FeedbackResult:
    """Record a feedback event and learn from it. A repeated event id changes nothing; a rejected event
    leaves the profile as it was (everything is checked before anything is written)."""

    def attempt(lock: bool) -> FeedbackResult:
        profile = profile_read(customer=customer, lock=lock)
        return _feedback_apply(
            profile,
            customer=customer,
            session=session,
            event_id=event_id,
            interaction_data=interaction_data,
            choice_data=choice_data,
        )

    return _optimistically(attempt)


def profile_apply_user_feedback(
    *,
    user: AbstractBaseUser,
    session_id: uuid.UUID,
    event_id: str,
    interaction_data: dict,
    choice_data: dict | None,
) -> FeedbackResult | None:
    """profile_apply_feedback for a caller who names the session by id: its session, customer and profile are
    read in one statement (`session_with_profile`). None when the user has no such session, and then nothing
    is written."""

    def attempt(lock: bool) -> FeedbackResult | None:
        session = session_with_profile(session_id=session_id, user=user, lock=lock)
        if session is None:
            return None
        customer = session.customer
        return _feedback_apply(
            customer.personalization_profile,
            customer=customer,
            session=session,
            event_id=event_id,
            interaction_data=interaction_data,
            choice_data=choice_data,
        )

    return _optimistically(attempt)


def _feedback_apply(
    profile: CustomerPersonalizationProfile,
    *,
    customer: CustomerAccount,
    session: RecommendationSession,
    event_id: str,
    interaction_data: dict,
    choice_data: dict | None,
) -> FeedbackResult:
    """The feedback event on the customer's profile as read: checks, learning, and the write of the profile
    and the interaction (`_feedback_write`)."""
    if session.customer_id != customer.pk:
        raise DomainError("No such session.", field="session_id")
    options, shown_ids = session_options(session)
    viewed = interaction_data.get("viewed_manufacturer_ids", [])
    unseen = sorted(set(viewed) - set(shown_ids))
    if unseen:
        raise DomainError(
            f"Manufacturers {unseen} were not shown in this session.", field="interaction_data.viewed_manufacturer_ids"
        )
    chosen = _validate_choice(session, shown_ids, choice_data) if choice_data else None

    now = timezone.now()
    summary: dict = {"weights_before": dict(profile.personal_weights)}
    learn_from_interaction(profile, interaction_data, now)
    if chosen is not None:
        summary.update(learn_from_choice(profile, session, options, chosen[1], choice_data or {}, now))
    interaction = Interaction(
        customer=customer,
        session=session,
        event_id=event_id,
        interaction_data=interaction_data,
        choice_data=choice_data,
        chosen_manufacturer_id=chosen[0] if chosen else None,
        chosen_rank=chosen[1] + 1 if chosen else None,
        time_to_decision_seconds=interaction_data.get("time_to_decision_seconds"),
        update_summary=summary,
        created_at=now,
    )
    try:
        written = _feedback_write(profile, CHOICE_FIELDS if chosen is not None else INTERACTION_FIELDS, interaction)
    except IntegrityError as refused:  # nothing was written
        return _feedback_already_recorded(
            profile, customer=customer, session=session, event_id=event_id, refused=refused
        )
    if not written:
        raise _ProfileChanged
    return FeedbackResult(interaction, profile, duplicate=False)


def _feedback_write(profile: CustomerPersonalizationProfile, fields: tuple[str, ...], interaction: Interaction) -> bool:
    """Update `fields` of the profile, if its revision is still the one read, and insert the interaction: both
    or neither. False when the profile had changed (and then nothing is written); IntegrityError when the
    interaction repeats a recorded event id of its customer or is a second choice on its session (the table's
    unique constraints: the ORM would need a read before its insert, and still race). True when written, and
    then `interaction.pk` is set and the profile's revision counted.

    A conflicting row is committed by then (the unique check waits for the transaction that wrote it), so
    `_feedback_already_recorded` can read it."""
    statements = _feedback_write_sql(fields)
    params = [f.get_db_prep_save(f.pre_save(profile, False), connection) for f in statements.update_fields]
    params += [profile.pk, profile.revision]
    values = [f.get_db_prep_save(f.pre_save(interaction, True), connection) for f in _interaction_insert_fields()]
    if connection.vendor == "postgresql":
        # One statement, its own transaction. Inside a caller's transaction, a savepoint keeps a refused insert
        # from aborting it.
        atomic = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        with atomic, connection.cursor() as cursor:
            cursor.execute(statements.both, [*params, *values])
            row = cursor.fetchone()
    else:  # SQLite has no UPDATE in a WITH: two statements in a transaction
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statements.update, params)
            row = None
            if cursor.rowcount:
                cursor.execute(statements.insert, values)
                row = cursor.fetchone()
    if row is None:
        return False
    profile.revision += 1
    interaction.pk = row[0]
    interaction._state.adding = False
    interaction._state.db = connection.alias
    return True


@dataclass(frozen=True)
class _FeedbackWriteSql:
    update: str  # the profile's `update_fields`, then its id and revision as read
    insert: str  # the interaction's `_interaction_insert_fields`, returning its id
    both: str  # the two in one statement: the insert from the update's row, returning the interaction's id
    update_fields: tuple[models.Field, ...]


@functools.cache
def _feedback_write_sql(fields: tuple[str, ...]) -> _FeedbackWriteSql:
    """`_feedback_write`'s statements for the profile's `fields`, written once per process from the models."""
    quote = connection.ops.quote_name
    profiles, interactions = CustomerPersonalizationProfile._meta, Interaction._meta
    update_fields = tuple(profiles.get_field(name) for name in fields)
    revision = quote(profiles.get_field("revision").column)
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in update_fields)
    update = (
        f"UPDATE {quote(profiles.db_table)} SET {assignments}, {revision} = {revision} + 1"
        f" WHERE {quote(profiles.pk.column)} = %s AND {revision} = %s"
    )
    inserted = _interaction_insert_fields()
    insert = (
        f"INSERT INTO {quote(interactions.db_table)} ({', '.join(quote(f.column) for f in inserted)})"
        f" SELECT {', '.join(['%s'] * len(inserted))}"
    )
    returning = f"RETURNING {quote(interactions.pk.column)}"
    return _FeedbackWriteSql(
        update=update,
        insert=f"{insert} {returning}",
        both=f"WITH updated AS ({update} RETURNING 1) {insert} FROM updated {returning}",
        update_fields=update_fields,
    )


@functools.cache
def _interaction_insert_fields() -> tuple[models.Field, ...]:
    return tuple(f for f in Interaction._meta.concrete_fields if not f.primary_key)


def _feedback_already_recorded(
    profile: CustomerPersonalizationProfile,
    *,
    customer: CustomerAccount,
    session: RecommendationSession,
    event_id: str,
    refused: IntegrityError,
) -> FeedbackResult:
    """The write was `refused`: the event repeats an earlier one (its first result, marked duplicate), or it is
    another choice on a session that has one (refused); any other constraint's refusal is raised again. The
    profile is read back as it is stored, without what this event would have learnt."""
    try:  # get, not first: a unique lookup needs no ORDER BY
        existing = Interaction.objects.get(customer=customer, event_id=event_id)
    except Interaction.DoesNotExist:
        if Interaction.objects.filter(session=session, chosen_manufacturer_id__isnull=False).exists():
            raise DomainError("A choice was already recorded for this session.", field="session_id") from None
        raise refused from None
    if existing.session_id != session.pk:
        raise DomainError("This event id was used for another session.", field="event_id")
    profile.refresh_from_db()
    return FeedbackResult(existing, profile, duplicate=True)


# What feedback changes on the profile: the row is wide, and feedback is the busiest write, so it rewrites
# only these. An event without a choice (learn_from_interaction) leaves the belief, the weights and their
# evolution as they were; a choice (learn_from_choice) changes those too. A test compares the row with the
# object after each kind of event, so that a field learnt but missing from its list is caught.
INTERACTION_FIELDS = (
    "total_interactions",
    "last_interaction_at",
    "decision_speed_profile",
    "explanation_preference",
    "behavior_patterns",
    "updated_at",
)
CHOICE_FIELDS = (
    *INTERACTION_FIELDS,
    "preference_state",
    "personal_weights",
    "personal_confidence",
    "learning_velocity",
    "weights_version",
    "total_choices",
    "average_choice_rank",
    "risk_tolerance",
    "complexity_comfort_level",
    "preference_evolution",
)


# What feedback reads of the session and the profile (session_with_profile reads no more): the shown
# items and the order, and what it learns from and rewrites. A field missing here is read by a statement of
# its own when touched, which the endpoint's statement-count test catches.
FEEDBACK_SESSION_FIELDS = ("id", "customer_id", "order_context", "candidates")
FEEDBACK_PROFILE_FIELDS = ("id", "customer_id", "prior_state", "revision", *CHOICE_FIELDS)


def learn_from_interaction(profile: CustomerPersonalizationProfile, interaction_data: dict, now: datetime) -> None:
    """What any feedback teaches, choice or not: activity, decision speed, explanation preference, views."""
    patterns = dict(profile.behavior_patterns)
    profile.total_interactions += 1
    profile.last_interaction_at = now
    seconds = interaction_data.get("time_to_decision_seconds")
    if seconds is not None:
        speed = dict(profile.decision_speed_profile)
        n = int(speed.get("n", 0)) + 1
        mean_log = running_mean(speed.get("mean_log_seconds"), n, math.log1p(seconds))
        speed.update(
            {
                "n": n,
                "mean_log_seconds": round(mean_log, 6),
                "typical_seconds": round(math.expm1(mean_log), 1),
                "category": "fast" if math.expm1(mean_log) < 600 else "deliberate",
            }
        )
        profile.decision_speed_profile = speed
    opened = interaction_data.get("explanation_opened")
    if opened is not None:
        seen = patterns.setdefault("explanations", {"opened": 0, "sessions": 0})
        seen["sessions"] += 1
        seen["opened"] += int(bool(opened))
        profile.explanation_preference = (
            ExplanationPreference.DETAILED if seen["opened"] * 2 > seen["sessions"] else ExplanationPreference.SUMMARY
        )
    patterns["views"] = int(patterns.get("views", 0)) + len(interaction_data.get("viewed_manufacturer_ids", ()))
    profile.behavior_patterns = patterns


def learn_from_choice(
    profile: CustomerPersonalizationProfile,
    session: RecommendationSession,
    options: np.ndarray,
    position: int,
    choice_data: dict,
    now: datetime,
) -> dict:
    """Learn from the choice of the option at `position` of the session: the weights (one bounded Newton
    step), confidence and learning velocity, risk tolerance, complexity comfort, patterns, and a
    preference-evolution snapshot. Returns what changed. (The acceptance rate is not a choice's to keep:
    `profiles_acceptance_rate_refresh`.)"""
    prior = profile.prior_state
    position_bias = float(prior.get("position_bias", learning.DEFAULT_POSITION_BIAS))
    state = state_from_json(profile.preference_state)
    step_scale = risk_adjusted_step(float(session.order_context.get("estimated_value", 0.0)))
    update = learning.choice_update(
        state, options, position, offsets=learning.position_offsets(len(options), position_bias), step_scale=step_scale
    )
    profile.preference_state = state_to_json(update.state)
    profile.personal_weights = factor_map(learning.effective_weights(update.state))
    profile.personal_confidence = round(learning.confidence(update.state, state_from_json(prior)), 6)
    profile.learning_velocity = round(step_scale * (1.0 - profile.personal_confidence), 6)
    profile.weights_version += 1
    profile.total_choices += 1
    profile.average_choice_rank = round(
        running_mean(profile.average_choice_rank, profile.total_choices, position + 1), 4
    )

    # Risk tolerance: the share of shown options more reliable than the chosen one (0 = always the most
    # reliable), and complexity comfort: the complexity of the orders placed, both as running averages.
    reliability = options[:, FACTORS.index("reliability")]
    riskiness = float(np.mean(reliability > reliability[position] + 1e-9))
    rate = max(1.0 / (profile.total_choices + 1), 0.1)
    profile.risk_tolerance = round(
        float(np.clip(profile.risk_tolerance + rate * (riskiness - profile.risk_tolerance), 0, 1)), 6
    )
    complexity = COMPLEXITY_LEVELS.get(session.order_context.get("complexity_level"), 0.5)
    comfort = profile.complexity_comfort_level + rate * (complexity - profile.complexity_comfort_level)
    profile.complexity_comfort_level = round(float(np.clip(comfort, 0, 1)), 6)

    patterns = dict(profile.behavior_patterns)
    candidate = sorted(session.candidates, key=lambda c: c["rank"])[position]
    pattern_counts(patterns, "manufacturers", candidate["manufacturer_id"])["chosen"] += 1
    pattern_counts(patterns, "regions", candidate["region"])["chosen"] += 1
    pattern_counts(patterns, "processes", session.order_context.get("process", "unknown"))["chosen"] += 1
    for rejected in choice_data.get("rejected_manufacturer_ids", ()):
        pattern_counts(patterns, "manufacturers", rejected)["rejected"] += 1
    manufacturer_patterns_bound(patterns)
    profile.behavior_patterns = patterns

    snapshot = {
        "at": now.isoformat(),
        "version": profile.weights_version,
        "weights": profile.personal_weights,
        "confidence": profile.personal_confidence,
    }
    profile.preference_evolution = [*profile.preference_evolution, snapshot][-EVOLUTION_SNAPSHOTS:]
    return {
        "step_norm": round(update.step_norm, 6),
        "clipped": update.clipped,
        "chosen_probability": round(update.probabilities[position], 6),
        "weights_after": profile.personal_weights,
        "confidence": profile.personal_confidence,
    }
