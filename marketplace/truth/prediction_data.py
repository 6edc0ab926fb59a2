"""A simulated world and history as the predictive models' input frames, with the oracle kept beside them.

Pure (numpy and pandas, no Django). `prediction_frames(world, history)` returns the `orders` and `customers`
frames of `predictions.ml.features` exactly as the database selector builds them from Order, MatchOutcome and
RecommendationSession rows (the same rules as `marketplace.truth.loading`: a walk-away is decided 48 hours
after the order, a rating and an on-time flag exist only for contracts delivered before the simulation ends,
accounts are created on day 0), and the hidden truth in separate frames that never reach a model:

- `order_oracle`: per order, the true P(the order converts) = sum over shown positions of P(choose the
  position) * `conversion_probability` at that position, and the true expected satisfaction of a contract
  (`Response.expected_satisfaction`, over the on-time draw and the rating noise);
- `oracle_churn(world, history, cutoff)`: per customer, the true P(no order in the next `horizon` days) of
  a predictor that knows every customer's true order rate, churn hazard and bad-experience score but, like
  any model, sees only its orders: a customer silent since its last order may already have left, with the
  posterior P(alive | the silence) = S(s) e^(-lambda s) / (S(s) e^(-lambda s) + int_0^s h(u) S(u) e^(-lambda u) du),
  s the days since the last order (or since the account opened), lambda the order rate, h the hazard
  `h0 * exp(sensitivity * B e^(-decay u))` with B the decayed bad-experience score after the last order and
  S its survival; then P = (1 - P(alive)) + P(alive) * `1 - int_0^horizon lambda e^(-lambda t) S'(t) dt` with
  S' the survival from the cut-off on. This is the best any predictor can do (the Bayes rule with the true
  parameters). `hidden_state=True` gives the simulator's own state instead, which also knows whether the
  customer has already left (1 for a churned customer): a churn that has happened but shows no sign yet is
  part of the outcome, not something a model could know, so that figure is reported but is no bar.
The true behavioural segments are the rule of `predictions.ml.features.segment_labels` applied to these
frames: the rule is over observable behaviour, so the frames are its truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketplace.simulation import (
    BAD_EXPERIENCE_HALF_LIFE_DAYS,
    History,
    World,
    conversion_probability,
    true_utility,
)
from marketplace.vocabulary import FACTORS, REGIONS
from predictions.ml.features import CUSTOMER_COLUMNS, ORDER_COLUMNS, TOP_K, WALK_AWAY_DECISION_HOURS

REGION_CODES = tuple(REGIONS)


@dataclass(frozen=True, eq=False)
class PredictionData:
    orders: pd.DataFrame  # ORDER_COLUMNS
    customers: pd.DataFrame  # CUSTOMER_COLUMNS
    order_oracle: pd.DataFrame  # order_id, p_convert_true, expected_satisfaction_true
    end_day: float  # the simulation's last day: labels need their whole window before it


def _order_rows(world: World, history: History) -> tuple[dict[str, list], list[float], list[float]]:
    catalog = world.catalog
    end = float(world.config.days)
    columns: dict[str, list] = {name: [] for name in ORDER_COLUMNS}
    p_convert_true: list[float] = []
    expected_satisfaction_true: list[float] = []
    nan = float("nan")
    for order_id, sim in enumerate(history.orders):
        order, response, customer = sim.order, sim.response, world.customers[sim.customer]
        shown = np.asarray(sim.shown, dtype=np.int64)
        features = np.asarray(sim.shown_features, dtype=float)
        regions = catalog.region[shown]
        row = {
            "order_id": order_id,
            "customer_id": sim.customer,
            "created_day": sim.day,
            "process": order.process,
            "complexity_level": order.complexity_level,
            "quantity": order.quantity,
            "estimated_value": order.estimated_value,
            "quality_requirements": order.quality_requirements,
            "timeline_urgency": order.timeline_urgency,
            "delivery_region": order.delivery_region,
            "shown_count": len(shown),
            "eligible_count": sim.eligible_count,
        }
        for k in range(TOP_K):
            present = k < len(shown)
            row[f"top{k + 1}_manufacturer_id"] = int(shown[k]) if present else nan
            row[f"top{k + 1}_region"] = REGION_CODES[int(regions[k])] if present else None
            row[f"top{k + 1}_score"] = sim.shown_scores[k] if present else nan
            for f, factor in enumerate(FACTORS):
                row[f"top{k + 1}_{factor}"] = float(features[k, f]) if present else nan
        position = response.chosen_position
        chosen = position is not None
        converted = bool(response.converted)
        decided = sim.day + (response.time_to_match_hours if chosen else WALK_AWAY_DECISION_HOURS) / 24.0
        delivered = nan
        if converted:
            delivered_at = decided + float(catalog.lead_time_days[shown[position]])
            delivered = delivered_at if delivered_at <= end else nan
        rated = converted and not math.isnan(delivered)
        if chosen:
            m = int(shown[position])
            row.update(
                chosen_rank=position + 1,
                chosen_manufacturer_id=m,
                chosen_region=REGION_CODES[int(regions[position])],
                chosen_quality_score=float(catalog.quality_score[m]),
                chosen_on_time_rate=float(catalog.on_time_rate[m]),
                chosen_cost_index=float(catalog.cost_index[m]),
                chosen_lead_time_days=float(catalog.lead_time_days[m]),
                chosen_region_match=float(REGION_CODES[int(regions[position])] == order.delivery_region),
                **{f"chosen_{factor}": float(features[position, f]) for f, factor in enumerate(FACTORS)},
            )
        else:
            row.update({name: nan for name in ORDER_COLUMNS if name.startswith("chosen_")})
            row["chosen_region"] = None
        row.update(
            chosen=chosen,
            converted=converted,
            contract_value=response.contract_value if converted else nan,
            satisfaction=float(response.satisfaction) if rated else nan,
            delivered_on_time=float(response.delivered_on_time) if rated else nan,
            time_to_match_hours=response.time_to_match_hours if chosen else nan,
            decided_day=decided,
            delivered_day=delivered,
        )
        for name in ORDER_COLUMNS:
            columns[name].append(row[name])

        probabilities = np.asarray(response.choice_probabilities[1:])
        match_quality = true_utility(customer, features, regions)
        p_convert_true.append(
            float(
                sum(
                    probabilities[k] * conversion_probability(customer, float(match_quality[k]), catalog.cost_index[m])
                    for k, m in enumerate(shown)
                )
            )
        )
        expected_satisfaction_true.append(response.expected_satisfaction if rated else nan)
    return columns, p_convert_true, expected_satisfaction_true


def prediction_frames(world: World, history: History) -> PredictionData:
    columns, p_convert_true, expected_satisfaction_true = _order_rows(world, history)
    orders = pd.DataFrame(columns, columns=list(ORDER_COLUMNS))
    for name in ("chosen", "converted"):
        orders[name] = orders[name].astype(bool)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(len(world.customers)),
            "industry": [c.industry for c in world.customers],
            "company_size": [c.company_size for c in world.customers],
            "region": [c.region for c in world.customers],
            "segment": [c.segment for c in world.customers],
            "first_seen_day": 0.0,  # the loader creates every account at the start of the simulation
        },
        columns=list(CUSTOMER_COLUMNS),
    )
    order_oracle = pd.DataFrame(
        {
            "order_id": orders["order_id"],
            "p_convert_true": p_convert_true,
            "expected_satisfaction_true": expected_satisfaction_true,
        }
    )
    return PredictionData(orders, customers, order_oracle, float(world.config.days))


def _trapezoid(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The running integral of `values` over `grid` (0 at its start), by the trapezoid rule."""
    return np.concatenate(([0.0], np.cumsum((values[1:] + values[:-1]) / 2 * np.diff(grid))))


def _hazard_and_survival(grid: np.ndarray, hazard0: float, sensitivity: float, bad: float):
    """The churn hazard h(u) = h0 exp(sensitivity * B e^(-decay u)) on the grid, and its survival S(u)."""
    decay = math.log(2) / BAD_EXPERIENCE_HALF_LIFE_DAYS
    hazard = hazard0 * np.exp(sensitivity * bad * np.exp(-decay * grid))
    return hazard, np.exp(-_trapezoid(hazard, grid))


def _no_order_probability(order_rate: float, hazard0: float, sensitivity: float, bad: float, horizon: float) -> float:
    """1 - integral_0^horizon lambda e^(-lambda t) S(t) dt, S(t) = exp(-int_0^t h0 exp(s B e^(-decay u)) du)."""
    t = np.linspace(0.0, horizon, 2001)
    _, survival = _hazard_and_survival(t, hazard0, sensitivity, bad)
    return float(1.0 - _trapezoid(order_rate * np.exp(-order_rate * t) * survival, t)[-1])


def alive_probability(order_rate: float, hazard0: float, sensitivity: float, bad: float, silence: float) -> float:
    """P(still active | no order in the `silence` days since the last one), bad = the score after that order."""
    if silence <= 0:
        return 1.0
    u = np.linspace(0.0, silence, 2001)
    hazard, survival = _hazard_and_survival(u, hazard0, sensitivity, bad)
    alive = survival[-1] * math.exp(-order_rate * silence)
    left_silent = float(_trapezoid(hazard * survival * np.exp(-order_rate * u), u)[-1])
    return float(alive / (alive + left_silent))


def oracle_churn(
    world: World, history: History, cutoff: float, *, horizon: float = 90.0, hidden_state: bool = False
) -> pd.Series:
    """The true P(no order in (cutoff, cutoff + horizon]) per customer id (all customers): the Bayes rule with the
    true parameters (module docstring), or with `hidden_state` the simulator's state, churn included."""
    decay = math.log(2) / BAD_EXPERIENCE_HALF_LIFE_DAYS
    sensitivity = world.config.churn_sensitivity
    last_day = np.zeros(len(world.customers))  # accounts open on day 0, and the hazard runs from then
    last_bad = np.zeros(len(world.customers))
    for sim in history.orders:  # in time order
        if sim.day < cutoff:
            last_day[sim.customer] = sim.day
            last_bad[sim.customer] = sim.bad_experience_score
    values = []
    for index, customer in enumerate(world.customers):
        silence = cutoff - last_day[index]
        churned = history.churn_day[index] if history.churn_day else None
        if hidden_state:
            if churned is not None and churned <= cutoff:
                values.append(1.0)
                continue
            alive = 1.0
        else:
            alive = alive_probability(
                customer.order_rate, customer.base_churn_hazard, sensitivity, last_bad[index], silence
            )
        no_order = _no_order_probability(
            customer.order_rate,
            customer.base_churn_hazard,
            sensitivity,
            last_bad[index] * math.exp(-decay * silence),
            horizon,
        )
        values.append((1.0 - alive) + alive * no_order)
    return pd.Series(values, index=pd.RangeIndex(len(world.customers), name="customer_id"), name="p_churn_true")


def oracle_churn_rolling(
    world: World, history: History, cutoffs, *, horizon: float = 90.0, hidden_state: bool = False
) -> pd.Series:
    """`oracle_churn` at each cut-off, indexed (cutoff, customer_id) like `features.rolling_frames`."""
    return pd.concat(
        {c: oracle_churn(world, history, c, horizon=horizon, hidden_state=hidden_state) for c in cutoffs},
        names=["cutoff", "customer_id"],
    )
