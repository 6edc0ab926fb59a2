"""The recommendation pipeline: rank the catalog for an order and write the decision log.

This first version ranks by the base strategy of the optimization goal, blended with the factor
importance the customer states; the personalization issue adds profiles, learnt weights and exploration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from django.db import transaction

from core.errors import DomainError
from marketplace import scoring
from marketplace.models import CustomerAccount, Order
from marketplace.selectors import catalog_get
from marketplace.vocabulary import FACTORS
from personalization.models import RecommendationSession

STATED_IMPORTANCE_SHARE = 0.5  # how much of the weight vector the customer's stated factor importance takes


@dataclass(frozen=True)
class Preferences:
    required_certifications: tuple[str, ...] = ()
    excluded_manufacturer_ids: tuple[int, ...] = ()
    max_lead_time_days: float | None = None
    factor_importance: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RecommendationItem:
    manufacturer_id: int
    name: str
    country: str
    region: str
    rank: int
    score: float
    features: dict[str, float]
    contributions: dict[str, float]
    explanation: str


@dataclass(frozen=True)
class RecommendationResult:
    session: RecommendationSession
    items: list[RecommendationItem]


def order_context_from_order(order: Order) -> scoring.OrderContext:
    return scoring.OrderContext(
        process=order.process_id,
        material=order.material_id,
        quantity=order.quantity,
        complexity_level=order.complexity_level,
        estimated_value=float(order.estimated_value),
        quality_requirements=order.quality_requirements,
        timeline_urgency=order.timeline_urgency,
        delivery_region=order.delivery_region,
    )


def customer_order_get(*, customer: CustomerAccount, order_id: int) -> Order:
    """The customer's own order; any other id (missing or someone else's) is the same 400."""
    order = Order.objects.filter(pk=order_id, customer=customer).first()
    if order is None:
        raise DomainError("No such order among yours.", field="order_id")
    return order


def experiment_assignment_for(*, customer: CustomerAccount, order: scoring.OrderContext, use_ab_testing: bool) -> None:
    """The experiment hook: the variant configuration that overrides the strategy, if any. None until the
    experiments issue fills it in."""
    return None


def strategy_weights(*, goal: str, preferences: Preferences) -> tuple[str, np.ndarray, str, str]:
    """(strategy name, weights, weights version, reasoning) for an optimization goal and stated preferences."""
    strategy = scoring.GOAL_STRATEGY[goal]
    weights = scoring.STRATEGIES[strategy].copy()
    reasoning = f"Optimization goal '{goal}' selects the {strategy} strategy."
    version = f"base:{strategy}"
    stated = np.array([preferences.factor_importance.get(f, 0.0) for f in FACTORS])
    if stated.sum() > 0:
        weights = (1 - STATED_IMPORTANCE_SHARE) * weights + STATED_IMPORTANCE_SHARE * stated / stated.sum()
        named = ", ".join(f for f in FACTORS if preferences.factor_importance.get(f, 0.0) > 0)
        reasoning += f" Your stated importance of {named} takes {STATED_IMPORTANCE_SHARE:.0%} of the weights."
        version += "+stated"
    return strategy, weights, version, reasoning


def _round(values: np.ndarray) -> dict[str, float]:
    return dict(zip(FACTORS, np.round(values, 6).tolist()))


@transaction.atomic
def recommendation_create(
    *,
    customer: CustomerAccount,
    order_context: scoring.OrderContext,
    order: Order | None = None,
    preferences: Preferences = Preferences(),
    optimization_goal: str = "balanced",
    limit: int = 10,
    use_ab_testing: bool = True,
) -> RecommendationResult:
    catalog = catalog_get()
    experiment_assignment_for(customer=customer, order=order_context, use_ab_testing=use_ab_testing)
    strategy, weights, weights_version, reasoning = strategy_weights(goal=optimization_goal, preferences=preferences)
    filters = scoring.CandidateFilters(
        required_certifications=preferences.required_certifications,
        excluded_ids=preferences.excluded_manufacturer_ids,
        max_lead_time_days=preferences.max_lead_time_days,
    )
    ranking = scoring.rank(catalog, order_context, weights, limit=limit, filters=filters)
    regions = tuple(scoring.REGIONS)
    items = [
        RecommendationItem(
            manufacturer_id=int(catalog.ids[row]),
            name=catalog.names[row],
            country=catalog.countries[row] if catalog.countries else "",
            region=regions[int(catalog.region[row])],
            rank=position + 1,
            score=round(float(ranking.scores[position]), 6),
            features=_round(ranking.features[position]),
            contributions=_round(ranking.contributions[position]),
            explanation=scoring.explain(ranking.contributions[position], position + 1),
        )
        for position, row in enumerate(ranking.rows)
    ]
    if not items:
        reasoning += " No active manufacturer meets the hard filters (process, capacity, minimum order value" + (
            ", your filters)." if filters != scoring.CandidateFilters() else ")."
        )
    session = RecommendationSession.objects.create(
        customer=customer,
        order=order,
        order_context=asdict(order_context),
        customer_preferences=preferences.as_dict(),
        optimization_goal=optimization_goal,
        algorithm_used=strategy,
        optimization_reasoning=reasoning,
        personalization_level=0.0,
        personal_confidence=0.0,
        ab_test_active=False,
        weights=_round(scoring.normalise_weights(weights)),
        weights_version=weights_version,
        propensity=1.0,
        candidates=[
            {
                "manufacturer_id": i.manufacturer_id,
                "rank": i.rank,
                "score": i.score,
                "features": i.features,
                "contributions": i.contributions,
            }
            for i in items
        ],
        eligible_count=ranking.eligible_count,
        catalog_version=catalog.version,
    )
    return RecommendationResult(session=session, items=items)
