"""The recommendation pipeline: profile, class, strategy, personal weights, exploration, decision log.

1. The customer's profile (created from its segment's prior) gives its confidence and its class: new,
   established or at risk.
2. A running experiment that targets the customer and order assigns it a variant (sticky), whose
   configuration overrides the strategy; the exposure is counted once per customer.
3. The strategy and its weights follow from the class, the goal, the order's complexity against the
   customer's comfort, and what converted for the customer before.
4. Every eligible manufacturer is scored by those weights, plus what the customer's history adds: its
   learnt region effect, manufacturers that worked, and a track-record penalty for the risk-averse.
5. The top three are kept; the rest of the list is explored (seeded by the session id, less as confidence
   grows) and the propensity of every position is logged.
6. One append-only session row records what was shown, with which weights and features.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.rows import insert_row
from experiments.services import VariantDecision, experiment_variant_for, exposure_record
from marketplace import scoring
from marketplace.models import CustomerAccount, Order
from marketplace.selectors import catalog_get
from marketplace.vocabulary import FACTOR_LABELS, FACTORS, REGIONS
from personalization import learning, policy
from personalization.models import CustomerPersonalizationProfile, ExplanationPreference, RecommendationSession
from personalization.selectors import profile_view, ranking_profile_get
from personalization.services.profiles import factor_map, profile_get_or_create, state_from_json

REGION_CODES = tuple(REGIONS)


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
    pattern_boost: float
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


def experiment_assignment_for(
    *, customer: CustomerAccount, order: scoring.OrderContext, use_ab_testing: bool
) -> VariantDecision | None:
    """The experiment hook: the variant of a running experiment that targets this customer and order, if
    any (and the client did not opt out with use_ab_testing=false)."""
    if not use_ab_testing:
        return None
    return experiment_variant_for(customer=customer, order=order)


def variant_strategy(decision: policy.StrategyDecision, variant: VariantDecision) -> policy.StrategyDecision:
    """The strategy a variant's configuration sets: the personalized pipeline's own, or a base strategy's
    weights alone; its parameters (the exploration temperature) override the pipeline's."""
    strategy = variant.config["strategy"]
    parameters = variant.config.get("parameters", {})
    temperature = parameters.get("exploration_temperature", decision.temperature)
    note = f"Experiment '{variant.experiment_name}' serves variant '{variant.variant_key}': the {strategy} strategy."
    if strategy == "personalized":
        return replace(decision, temperature=temperature, reasoning=(*decision.reasoning, note))
    return policy.StrategyDecision(strategy, scoring.STRATEGIES[strategy].copy(), temperature, (note,))


def _boosts(
    catalog: scoring.Catalog, profile: CustomerPersonalizationProfile, state: learning.PreferenceState
) -> np.ndarray:
    successes = np.zeros(len(catalog))
    failures = np.zeros(len(catalog))
    for manufacturer_id, record in profile.behavior_patterns.get("manufacturers", {}).items():
        row = catalog.position.get(int(manufacturer_id))
        if row is not None:
            successes[row] = record.get("successes", 0)
            failures[row] = record.get("failures", 0)
    return policy.pattern_boosts(
        region_boost=learning.region_boosts(state),
        regions=catalog.region,
        successes=successes,
        failures=failures,
        completed_orders=catalog.completed_orders,
        risk_tolerance=profile.risk_tolerance,
    )


def explanation_for(
    contributions: np.ndarray, features: np.ndarray, weights: np.ndarray, boost: float, rank: int, detailed: bool
) -> str:
    line = scoring.explain(contributions, rank)
    if abs(boost) >= 0.005:
        line += f" Your history {'adds' if boost > 0 else 'takes'} {abs(boost):.3f}."
    if not detailed:
        return line
    parts = [
        f"{FACTOR_LABELS[f]} {contributions[i]:.3f} (weight {weights[i]:.2f} x value {features[i]:.2f})"
        for i, f in sorted(enumerate(FACTORS), key=lambda item: -contributions[item[0]])
    ]
    return f"{line} Breakdown: {'; '.join(parts)}."


def recommendation_create(
    *,
    customer: CustomerAccount,
    order_context: scoring.OrderContext,
    order: Order | None = None,
    preferences: Preferences = Preferences(),
    optimization_goal: str = "balanced",
    limit: int = 10,
    use_ab_testing: bool = True,
    exploration_seed: int | None = None,
    profile: CustomerPersonalizationProfile | None = None,
) -> RecommendationResult:
    """Rank for this order and log the decision. The exploration is seeded by `exploration_seed`, by default
    drawn from the session id; the seed is logged, so any list can be replayed. The decision-log row is the
    only write of a request outside an experiment (one INSERT, no transaction around it: each round trip
    counts); with a variant, the row and the exposure are written in one transaction. `profile` is the
    customer's, when the caller has just read it (else it is read, or created, here)."""
    catalog = catalog_get()
    if profile is None or profile.customer_id != customer.pk:
        profile = ranking_profile_get(customer=customer) or profile_get_or_create(customer=customer)
    view = profile_view(profile)
    classification = policy.classify(view)
    state = state_from_json(profile.preference_state)
    variant = experiment_assignment_for(customer=customer, order=order_context, use_ab_testing=use_ab_testing)
    decision = policy.choose_strategy(
        profile=view,
        classification=classification,
        personal_weights=learning.effective_weights(state),
        goal=optimization_goal,
        order_complexity=order_context.complexity,
        stated_importance=preferences.factor_importance,
    )
    if variant is not None:
        decision = variant_strategy(decision, variant)
    filters = scoring.CandidateFilters(
        required_certifications=preferences.required_certifications,
        excluded_ids=preferences.excluded_manufacturer_ids,
        max_lead_time_days=preferences.max_lead_time_days,
    )
    personal = variant is None or variant.config["strategy"] == "personalized"
    boost = _boosts(catalog, profile, state) if personal else np.zeros(len(catalog))
    scored = scoring.score_eligible(catalog, order_context, decision.weights, filters=filters, boost=boost)
    session_id = uuid.uuid4()
    seed = session_id.int >> 65 if exploration_seed is None else exploration_seed  # fits a signed 64-bit column
    rng = np.random.default_rng(seed)
    explored = policy.explore(scored.scores, limit, temperature=decision.temperature, rng=rng)
    detailed = profile.explanation_preference == ExplanationPreference.DETAILED

    items, candidates = [], []
    shown_features = scored.features[explored.positions]
    shown_contributions = shown_features * decision.weights
    # Rounded as factor_map rounds, the whole list at once
    rounded_features = np.round(shown_features, 6).tolist()
    rounded_contributions = np.round(shown_contributions, 6).tolist()
    for index, (position, propensity) in enumerate(zip(explored.positions, explored.position_propensities)):
        rank = index + 1
        row = int(scored.rows[position])
        features, contributions = shown_features[index], shown_contributions[index]
        row_boost = float(boost[row])
        item = RecommendationItem(
            manufacturer_id=int(catalog.ids[row]),
            name=catalog.names[row],
            country=catalog.countries[row] if catalog.countries else "",
            region=REGION_CODES[int(catalog.region[row])],
            rank=rank,
            score=round(float(scored.scores[position]), 6),
            features=dict(zip(FACTORS, rounded_features[index])),
            contributions=dict(zip(FACTORS, rounded_contributions[index])),
            pattern_boost=round(row_boost, 6),
            explanation=explanation_for(contributions, features, decision.weights, row_boost, rank, detailed),
        )
        items.append(item)
        candidates.append(
            {
                "manufacturer_id": item.manufacturer_id,
                "rank": rank,
                "score": item.score,
                "region": item.region,
                "features": item.features,
                "contributions": item.contributions,
                "pattern_boost": item.pattern_boost,
                "position_propensity": propensity,  # unrounded: it is divided by, later
            }
        )
    reasoning = list(decision.reasoning)
    if not items:
        reasoning.append(
            "No active manufacturer meets the hard filters (process, capacity, minimum order value"
            + (", your filters)." if filters != scoring.CandidateFilters() else ").")
        )
    row = RecommendationSession(
        id=session_id,
        customer=customer,
        order=order,
        order_context=asdict(order_context),
        customer_preferences=preferences.as_dict(),
        optimization_goal=optimization_goal,
        algorithm_used=decision.algorithm,
        optimization_reasoning=" ".join(reasoning),
        personalization_level=policy.personalization_level(view, classification.kind),
        personal_confidence=profile.personal_confidence,
        customer_class=classification.kind,
        ab_test_active=variant is not None,
        variant_id=None if variant is None else variant.variant_id,
        weights=factor_map(decision.weights),
        weights_version=f"profile:v{profile.weights_version}",
        propensity=1.0,
        log_propensity=explored.log_propensity,
        exploration_temperature=decision.temperature,
        exploration_seed=seed,
        candidates=candidates,
        eligible_count=int(scored.rows.size),
        catalog_version=catalog.version,
        created_at=timezone.now(),
    )
    if variant is None:
        insert_row(row)
    else:
        with transaction.atomic():
            insert_row(row)
            exposure_record(decision=variant, customer=customer, session_id=row.id)
    return RecommendationResult(session=row, items=items)
