"""Outcomes of recommendation sessions, reported by the platform: they reinforce or weaken what was learnt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DomainError
from experiments.services import conversion_record, satisfaction_record
from marketplace.models import Manufacturer, MatchOutcome, Order
from personalization import learning
from personalization.models import (
    CustomerPersonalizationProfile,
    Interaction,
    OutcomeEvent,
    RecommendationSession,
    SessionOutcome,
)
from personalization.services.profiles import (
    RECENT_RATINGS,
    factor_map,
    manufacturer_patterns_bound,
    pattern_counts,
    profile_lock,
    running_mean,
    session_options,
    state_from_json,
    state_to_json,
)

REINFORCEMENT = 0.1  # the weight of an outcome's pseudo-choice: +0.1 for a perfect outcome, -0.1 for the worst
OUTCOME_FIELDS = ("converted", "contract_value", "satisfaction", "delivered_on_time")


def outcome_reward(*, converted: bool | None, satisfaction: int | None, delivered_on_time: bool | None) -> float | None:
    """The outcome in [0, 1] from what is known: a lost contract is 0; a contract is 0.6, plus up to 0.3 for
    the rating and 0.1 for delivery on time once they are known."""
    if converted is None:
        return None
    if not converted:
        return 0.0
    reward = 0.6
    reward += 0.3 * ((satisfaction - 1) / 4 if satisfaction is not None else 0.5)
    reward += 0.1 * (float(delivered_on_time) if delivered_on_time is not None else 0.5)
    return reward


@dataclass(frozen=True)
class OutcomeResult:
    outcome: SessionOutcome
    event: OutcomeEvent
    duplicate: bool


@transaction.atomic
def session_outcome_record(
    *,
    session: RecommendationSession,
    event_id: str,
    manufacturer_id: int,
    converted: bool | None = None,
    contract_value: Decimal | None = None,
    satisfaction: int | None = None,
    delivered_on_time: bool | None = None,
) -> OutcomeResult:
    """Record what the platform reports about a session. Each fact may be reported once (a restatement
    that differs is refused); a repeated event id changes nothing."""
    profile = profile_lock(customer=session.customer)
    existing = OutcomeEvent.objects.filter(event_id=event_id).first()
    if existing is not None:
        if existing.session_id != session.pk:
            raise DomainError("This event id was used for another session.", field="event_id")
        return OutcomeResult(existing.session.outcome, existing, duplicate=True)

    shown = [int(c["manufacturer_id"]) for c in session.candidates]
    if manufacturer_id not in shown:
        raise DomainError("The manufacturer was not shown in this session.", field="manufacturer_id")
    if session.order_id and not Manufacturer.objects.filter(pk=manufacturer_id).exists():
        raise DomainError("This manufacturer no longer exists.", field="manufacturer_id")
    reported = {
        "converted": converted,
        "contract_value": contract_value,
        "satisfaction": satisfaction,
        "delivered_on_time": delivered_on_time,
    }
    if all(value is None for value in reported.values()):
        raise DomainError("Report at least one of " + ", ".join(OUTCOME_FIELDS) + ".", field="converted")
    outcome = SessionOutcome.objects.select_for_update().filter(session=session).first()
    if outcome is not None and outcome.manufacturer_id != manufacturer_id:
        raise DomainError(
            f"This session's outcome is with manufacturer {outcome.manufacturer_id}.", field="manufacturer_id"
        )
    choice = Interaction.objects.filter(session=session, chosen_manufacturer_id__isnull=False).first()
    if choice is not None and choice.chosen_manufacturer_id != manufacturer_id:
        raise DomainError(
            f"The customer chose manufacturer {choice.chosen_manufacturer_id} in this session.", field="manufacturer_id"
        )
    outcome = outcome or SessionOutcome(session=session, manufacturer_id=manufacturer_id)
    for name, value in reported.items():
        if value is not None and getattr(outcome, name) is not None and getattr(outcome, name) != value:
            raise DomainError(f"{name} was already reported as {getattr(outcome, name)}.", field=name)
    merged = {name: value if value is not None else getattr(outcome, name) for name, value in reported.items()}
    if merged["converted"] is False and any(merged[n] is not None for n in OUTCOME_FIELDS[1:]):
        raise DomainError("A lost contract has no value, rating or delivery.", field="converted")
    if merged["converted"] and merged["contract_value"] is None:
        raise DomainError("A conversion is reported with its contract value.", field="contract_value")
    if merged["converted"] is None and any(merged[n] is not None for n in OUTCOME_FIELDS[1:]):
        raise DomainError("Report the conversion before the value, rating or delivery.", field="converted")

    before = outcome_reward(
        converted=outcome.converted, satisfaction=outcome.satisfaction, delivered_on_time=outcome.delivered_on_time
    )
    new_conversion = outcome.converted is None and merged["converted"] is not None
    new_rating = outcome.satisfaction is None and merged["satisfaction"] is not None
    for name, value in merged.items():
        setattr(outcome, name, value)
    if new_conversion and merged["converted"]:
        outcome.converted_at = timezone.now()
    outcome.save()

    summary = learn_from_outcome(profile, session, outcome, before, new_conversion, new_rating)
    profile.save()
    try:
        with transaction.atomic():
            event = OutcomeEvent.objects.create(
                event_id=event_id,
                session=session,
                update_summary=summary,
                payload={
                    "manufacturer_id": manufacturer_id,
                    **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in reported.items()},
                },
            )
    except IntegrityError:  # taken meanwhile by a report on another customer's session (a lock of its own)
        raise DomainError("This event id was used for another session.", field="event_id") from None
    if session.order_id:
        _mirror_match_outcome(session.order, outcome)
    if new_conversion and outcome.converted and session.variant_id:
        conversion_record(
            variant_id=session.variant_id,
            customer=session.customer,
            session_id=session.pk,
            value=float(outcome.contract_value),
        )
    if new_rating and session.variant_id:
        satisfaction_record(variant_id=session.variant_id, rating=int(outcome.satisfaction))
    return OutcomeResult(outcome, event, duplicate=False)


def learn_from_outcome(
    profile: CustomerPersonalizationProfile,
    session: RecommendationSession,
    outcome: SessionOutcome,
    reward_before: float | None,
    new_conversion: bool,
    new_rating: bool,
) -> dict:
    """What an outcome teaches (the caller saves the profile): conversion rate, the strategy's record, the
    patterns that worked or failed, the rating, and a bounded reinforcement of the choice."""
    manufacturer_id = outcome.manufacturer_id
    patterns = dict(profile.behavior_patterns)
    summary: dict = {}
    if new_conversion:
        profile.outcomes_count += 1
        performance = dict(profile.strategy_performance)
        record = dict(performance.get(session.algorithm_used, {"sessions": 0, "conversions": 0}))
        record["sessions"] += 1
        candidate = next(c for c in session.candidates if int(c["manufacturer_id"]) == manufacturer_id)
        if outcome.converted:
            profile.conversions_count += 1
            profile.successful_matches += 1
            record["conversions"] += 1
        performance[session.algorithm_used] = record
        profile.strategy_performance = performance
        profile.conversion_rate = round(profile.conversions_count / profile.outcomes_count, 6)
        key = "successes" if outcome.converted else "failures"
        pattern_counts(patterns, "manufacturers", manufacturer_id)[key] += 1
        pattern_counts(patterns, "regions", candidate["region"])[key] += 1
        pattern_counts(patterns, "processes", session.order_context.get("process", "unknown"))[key] += 1
    if new_rating:
        profile.ratings_count += 1
        rating = float(outcome.satisfaction)
        previous = profile.average_satisfaction
        profile.average_satisfaction = round(running_mean(previous, profile.ratings_count, rating), 6)
        profile.recent_satisfaction = [*profile.recent_satisfaction, rating][-RECENT_RATINGS:]
        if rating <= 2:
            pattern_counts(patterns, "manufacturers", manufacturer_id)["failures"] += 1

    # Reinforce (or weaken) the choice by how much better (or worse) the outcome now looks than a neutral
    # 0.5, counting only the change since the last report of this session.
    reward = outcome_reward(
        converted=outcome.converted, satisfaction=outcome.satisfaction, delivered_on_time=outcome.delivered_on_time
    )
    shift = (reward if reward is not None else 0.5) - (reward_before if reward_before is not None else 0.5)
    if abs(shift) > 1e-9:
        options, shown = session_options(session)
        state = state_from_json(profile.preference_state)
        update = learning.choice_update(
            state,
            options,
            shown.index(manufacturer_id),
            weight=2 * REINFORCEMENT * shift,
            informative=False,
            offsets=learning.position_offsets(len(options), float(profile.prior_state.get("position_bias", 1.0))),
        )
        profile.preference_state = state_to_json(update.state)
        profile.personal_weights = factor_map(learning.effective_weights(update.state))
        profile.weights_version += 1
        summary = {
            "reward": round(reward or 0.0, 4),
            "reinforcement": round(2 * REINFORCEMENT * shift, 4),
            "step_norm": round(update.step_norm, 6),
            "weights_after": profile.personal_weights,
        }
    manufacturer_patterns_bound(patterns)
    profile.behavior_patterns = patterns
    return summary


def _mirror_match_outcome(order: Order, outcome: SessionOutcome) -> None:
    """Keep the marketplace's record of the order's outcome (the training rows of the predictive models)."""
    if outcome.converted is None:
        return
    MatchOutcome.objects.update_or_create(
        order=order,
        defaults={
            "manufacturer_id": outcome.manufacturer_id,
            "converted": outcome.converted,
            "contract_value": outcome.contract_value,
            "satisfaction": outcome.satisfaction,
            "delivered_on_time": outcome.delivered_on_time,
            "time_to_match": max(timezone.now() - order.created_at, timedelta(0)),
        },
    )
