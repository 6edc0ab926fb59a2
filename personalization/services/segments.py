"""Segment preferences: what the customers of a segment prefer, the prior of every new customer.

Recomputed by Celery beat from the choices in the decision log: a pooled conditional logit per segment
(which also estimates the position bias), and the between-customer spread of the weights from the
profiles of customers with enough choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.utils import timezone

from marketplace.models import Segment
from personalization import learning
from personalization.models import CustomerPersonalizationProfile, Interaction, SegmentPreference
from personalization.services.profiles import default_segment_prior, session_options, state_from_json

MAX_CHOICES_PER_SEGMENT = 5000
MIN_CHOICES_TO_FIT = 30
MIN_CHOICES_FOR_SPREAD = 10  # a profile's own evidence must be this large to say how customers differ
FACTOR_SD_FLOOR = 4.0
REGION_SD_FLOOR = 2.0
FIT_PRIOR_SD = 25.0  # weak: the pooled fit of a segment is driven by its data
SPREAD_SHARES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # candidate spreads, as multiples of the weights' size


@dataclass(frozen=True)
class SegmentFitResult:
    segment: str
    choices: int
    customers: int
    fitted: bool


def _observations(segment: str) -> dict[int, list[learning.ChoiceObservation]]:
    """The segment's most recent choices, per customer, each customer's in time order."""
    interactions = (
        Interaction.objects.filter(customer__segment=segment, chosen_manufacturer_id__isnull=False)
        .select_related("session")
        .order_by("-created_at", "-id")[:MAX_CHOICES_PER_SEGMENT]
    )
    by_customer: dict[int, list[learning.ChoiceObservation]] = {}
    for interaction in reversed(list(interactions)):
        options, shown = session_options(interaction.session)
        if interaction.chosen_manufacturer_id in shown and len(shown) > 1:
            observation = learning.ChoiceObservation(options, shown.index(interaction.chosen_manufacturer_id))
            by_customer.setdefault(interaction.customer_id, []).append(observation)
    return by_customer


def _spread(segment: str, floor: np.ndarray) -> np.ndarray:
    profiles = CustomerPersonalizationProfile.objects.filter(
        customer__segment=segment, total_choices__gte=MIN_CHOICES_FOR_SPREAD
    ).only("preference_state")
    means, variances = [], []
    for profile in profiles:
        state = state_from_json(profile.preference_state)
        means.append(state.mean_array)
        variances.append(np.diag(state.covariance))
    return learning.between_customer_sd(np.array(means), np.array(variances), floor=floor)


@transaction.atomic
def segment_preference_recompute(*, segment: str) -> SegmentFitResult:
    by_customer = _observations(segment)
    observations = [o for sequence in by_customer.values() for o in sequence]
    customers = len(by_customer)
    if len(observations) < MIN_CHOICES_TO_FIT:
        return SegmentFitResult(segment, len(observations), customers, fitted=False)
    default = default_segment_prior()
    prior_mean = np.concatenate([default.mean, [-default.position_bias]])
    fit = learning.fit_pooled_logit(
        observations,
        prior_mean=prior_mean,
        prior_precision=np.eye(len(prior_mean)) / FIT_PRIOR_SD**2,
    )
    mean = np.asarray(fit.mean)
    floor = np.concatenate([np.full(learning.N_FACTORS, FACTOR_SD_FLOOR), np.full(learning.N_REGIONS, REGION_SD_FLOOR)])
    position_bias = max(0.0, -float(mean[-1]))
    spread = _spread(segment, floor)
    if len(spread) != learning.DIMENSIONS or np.all(spread == floor):
        # Too few experienced customers to measure the spread directly: take the multiple of the weights' size
        # under which the prior best predicts each customer's next choice (empirical Bayes, prequential).
        spread = max(
            (np.maximum(share * np.abs(mean[: learning.DIMENSIONS]), floor) for share in SPREAD_SHARES),
            key=lambda sd: learning.prequential_log_likelihood(
                learning.prior_state(mean[: learning.DIMENSIONS], sd),
                list(by_customer.values()),
                position_bias=position_bias,
            ),
        )
    SegmentPreference.objects.update_or_create(
        segment=segment,
        defaults={
            "prior_mean": [round(v, 6) for v in mean[: learning.DIMENSIONS].tolist()],
            "prior_sd": [round(v, 6) for v in spread.tolist()],
            "position_bias": round(position_bias, 6),
            "customers": customers,
            "choices": len(observations),
            "log_likelihood": fit.log_likelihood,
            "computed_at": timezone.now(),
        },
    )
    return SegmentFitResult(segment, len(observations), customers, fitted=True)


def segment_preferences_recompute() -> list[SegmentFitResult]:
    return [segment_preference_recompute(segment=segment) for segment in Segment.values]
