"""Segment preferences: what the customers of a segment prefer, the prior of every new customer.

Recomputed by Celery beat from the choices in the decision log: a pooled conditional logit per segment
estimates the position bias and the representative customer's weights, from which empirical Bayes (EM over
the segment's customers, `learning.empirical_bayes_prior`) finds the mean and the between-customer spread of
the log weights and of the region effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.utils import timezone

from marketplace.models import Segment
from personalization import learning
from personalization.models import Interaction, SegmentPreference
from personalization.services.profiles import default_segment_prior, session_options

MAX_CHOICES_PER_SEGMENT = 5000
MIN_CHOICES_TO_FIT = 30
FACTOR_LOG_SD_FLOOR = 0.25  # customers' weights differ by at least about 25 % from the segment's
REGION_SD_FLOOR = 1.0
FIT_PRIOR_SD = 25.0  # weak: the pooled fit of a segment is driven by its data
EM_ITERATIONS = 10


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


@transaction.atomic
def segment_preference_recompute(*, segment: str) -> SegmentFitResult:
    by_customer = _observations(segment)
    observations = [o for sequence in by_customer.values() for o in sequence]
    customers = len(by_customer)
    if len(observations) < MIN_CHOICES_TO_FIT:
        return SegmentFitResult(segment, len(observations), customers, fitted=False)
    default = default_segment_prior()
    prior_mean = np.concatenate([learning.utility_weights(default.mean), [-default.position_bias]])
    fit = learning.fit_pooled_logit(
        observations,
        prior_mean=prior_mean,
        prior_precision=np.eye(len(prior_mean)) / FIT_PRIOR_SD**2,
    )
    pooled = np.asarray(fit.mean)  # beta of the representative customer, then minus the position bias
    position_bias = max(0.0, -float(pooled[-1]))
    weights, regions = pooled[: learning.N_FACTORS], pooled[learning.N_FACTORS : learning.DIMENSIONS]
    # EM starts from equal weights at the pooled weights' scale: the pooled fit of customers who differ is
    # attenuated unevenly, and EM moves slowly from a far start when each customer has few choices.
    scale = max(float(np.maximum(weights, 0.0).sum()), 1e-6)
    start = learning.prior_state(
        np.concatenate([np.full(learning.N_FACTORS, np.log(scale / learning.N_FACTORS)), regions]), default.sd
    )
    floor = np.concatenate(
        [np.full(learning.N_FACTORS, FACTOR_LOG_SD_FLOOR), np.full(learning.N_REGIONS, REGION_SD_FLOOR)]
    )
    prior = learning.empirical_bayes_prior(
        list(by_customer.values()), start, position_bias=position_bias, sd_floor=floor, iterations=EM_ITERATIONS
    )
    spread = np.sqrt(np.diag(prior.covariance))
    SegmentPreference.objects.update_or_create(
        segment=segment,
        defaults={
            "prior_mean": [round(v, 6) for v in prior.mean],
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
