"""Rebuilding profiles from the decision log: after the learning changes, or for a loaded history."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from marketplace.models import CustomerAccount
from personalization.models import (
    CustomerPersonalizationProfile,
    Interaction,
    OutcomeEvent,
    RecommendationSession,
    SessionOutcome,
)
from personalization.selectors import acceptance_rate
from personalization.services.outcomes import OUTCOME_FIELDS, learn_from_outcome, outcome_reward
from personalization.services.profiles import (
    learn_from_choice,
    learn_from_interaction,
    profile_get_or_create,
    session_options,
)


def _outcome_events(customer: CustomerAccount, choice_times: dict) -> list[tuple]:
    """(time, order, session, facts) of every outcome report, in the order they arrived. A session whose
    outcome was loaded without its reports (a simulated history) counts as one report after its choice."""
    events, reported = [], set()
    for event in OutcomeEvent.objects.filter(session__customer=customer).select_related("session"):
        facts = {name: event.payload.get(name) for name in OUTCOME_FIELDS}
        facts["manufacturer_id"] = event.payload["manufacturer_id"]
        events.append((event.created_at, 1, event.pk, event.session, facts))
        reported.add(event.session_id)
    for outcome in SessionOutcome.objects.filter(session__customer=customer).select_related("session"):
        if outcome.session_id not in reported:
            facts = {name: getattr(outcome, name) for name in OUTCOME_FIELDS}
            facts["manufacturer_id"] = outcome.manufacturer_id
            at = choice_times.get(outcome.session_id, outcome.session.created_at)
            events.append((at, 1, 0, outcome.session, facts))
    return events


@transaction.atomic
def profile_rebuild(*, customer: CustomerAccount) -> CustomerPersonalizationProfile:
    """Learn the customer's profile again from its whole history, in the order it arrived: every feedback
    event and every outcome report, through the same learning steps as when they came. Idempotent: the
    result depends only on the history and the segment's current prior."""
    CustomerPersonalizationProfile.objects.filter(customer=customer).delete()
    profile = profile_get_or_create(customer=customer)
    interactions = list(Interaction.objects.filter(customer=customer).select_related("session"))
    choice_times = {i.session_id: i.created_at for i in interactions if i.chosen_manufacturer_id is not None}
    timeline = [(i.created_at, 0, i.pk, i.session, i) for i in interactions]
    timeline += _outcome_events(customer, choice_times)
    known: dict = {}  # session id -> the outcome facts reported so far
    for at, kind, _, session, item in sorted(timeline, key=lambda event: event[:3]):
        if kind == 0:
            learn_from_interaction(profile, item.interaction_data, at)
            options, shown = session_options(session)
            if item.chosen_manufacturer_id is not None and item.chosen_manufacturer_id in shown:
                position = shown.index(item.chosen_manufacturer_id)
                learn_from_choice(profile, session, options, position, item.choice_data or {}, at)
            continue
        outcome = known.setdefault(session.pk, SessionOutcome(session=session, manufacturer_id=item["manufacturer_id"]))
        before = outcome_reward(
            converted=outcome.converted, satisfaction=outcome.satisfaction, delivered_on_time=outcome.delivered_on_time
        )
        new_conversion = outcome.converted is None and item["converted"] is not None
        new_rating = outcome.satisfaction is None and item["satisfaction"] is not None
        for name in OUTCOME_FIELDS:
            if item[name] is not None:
                setattr(outcome, name, item[name])
        learn_from_outcome(profile, session, outcome, before, new_conversion, new_rating)
    sessions = RecommendationSession.objects.filter(customer=customer).count()
    profile.recommendation_acceptance_rate = acceptance_rate(choices=profile.total_choices, sessions=sessions)
    profile.save()
    return profile


def profiles_rebuild(*, progress: Callable[[int], None] = lambda n: None) -> int:
    """Rebuild every customer's profile; returns how many."""
    count = 0
    for customer in CustomerAccount.objects.order_by("pk").iterator():
        profile_rebuild(customer=customer)
        count += 1
        progress(1)
    return count
