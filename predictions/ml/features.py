"""Feature frames and labels of the four predictive models, computed as of a cut-off with no leakage.

Pure: numpy and pandas (and the marketplace's fixed vocabulary), never Django and never the simulator. The
input is two documented frames, the same whether a selector reads them from the database (Order +
MatchOutcome + RecommendationSession rows) or `marketplace.truth.prediction_data` builds them from a
simulated history:

`orders` (ORDER_COLUMNS), one row per order that was shown a recommendation list:
- identity and time: order_id, customer_id, created_day (float days since any fixed origin);
- the order: process, complexity_level, quantity, estimated_value, quality_requirements, timeline_urgency,
  delivery_region (codes of `marketplace.vocabulary`);
- the shown list: shown_count, eligible_count and, for the first TOP_K shown (NaN / None past the end),
  top<k>_manufacturer_id, top<k>_region, top<k>_score and top<k>_<factor> for each factor of FACTORS;
- the chosen manufacturer (NaN / None when the customer walked away): chosen_rank (1-based),
  chosen_manufacturer_id, chosen_region, chosen_quality_score, chosen_on_time_rate, chosen_cost_index,
  chosen_lead_time_days, chosen_region_match (1.0 when its region is the delivery region), chosen_<factor>;
- the outcome: chosen (bool), converted (bool: chosen and signed), contract_value, satisfaction (1-5, NaN
  until rated), delivered_on_time (1.0 / 0.0, NaN until delivered), time_to_match_hours (NaN for a walk-away),
  decided_day (when the choice or the walk-away became known) and delivered_day (NaN until delivered; the
  rating and the on-time flag are known from then on).

`customers` (CUSTOMER_COLUMNS): customer_id, industry, company_size, region, segment (the public, declared
segment), first_seen_day.

No leakage. Every feature of a row is computed as of a time t: from the orders created before t and only
from the outcomes known before t (a choice from decided_day, a rating or a late delivery from delivered_day).
The labels come strictly after t. For the order-level models (success, satisfaction) t is the order's own
creation (success) or decision (satisfaction), and a frame "as of cut-off c" holds the orders whose label is
known before c; for the customer-level models (churn, segment) t is the cut-off and the label is over a
window after it.

The behavioural segments (`segment_labels`): a deterministic rule over a customer's behaviour in a window,
for a customer with at least SEGMENT_MIN_DECISIONS decided orders there (else unlabelled). Over the choices
it made, "lift" is the chosen manufacturer's factor minus the mean of that factor over the list it was shown
(> 0: it picked above the list on that factor):
1. `selective`: walks away from at least SELECTIVE_WALK_SHARE (80 %) of the lists shown;
2. `price_hunter`: the mean cost-fit lift is at least PRICE_LIFT (0.06) and clears that bar by more than the
   quality-fit lift clears QUALITY_LIFT;
3. `quality_seeker`: the mean quality-fit lift is at least QUALITY_LIFT (0.08);
4. `decisive`: takes the top-ranked manufacturer in at least DECISIVE_TOP_SHARE (60 %) of its choices and
   decides in a median time under DELIBERATE_HOURS (48 h);
5. `deliberate_comparer`: everyone else: picks lower in the list, or takes its time to compare.
The first rule that holds names the segment. The classifier predicts the segment of the window after a
cut-off from the behaviour before it (plus the account), so it is a forecast, not the rule recomputed.
Preference drift is left out: a segment of customers whose choices changed between two halves of a window
cannot be forecast from earlier behaviour in our marketplace, where preferences are stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketplace.vocabulary import COMPANY_SIZES, COMPLEXITY_LEVELS, FACTORS, INDUSTRIES, PROCESSES, REGIONS, SEGMENTS
from predictions.ml import clv

TOP_K = 5
WALK_AWAY_DECISION_HOURS = 48.0  # a walk-away is known this long after the order (the order is cancelled)
CHURN_HORIZON_DAYS = 90.0
BAD_EXPERIENCE_HALF_LIFE_DAYS = 60.0
RECENT_WINDOWS_DAYS = (30.0, 90.0, 180.0)

ORDER_COLUMNS: tuple[str, ...] = (
    "order_id",
    "customer_id",
    "created_day",
    "process",
    "complexity_level",
    "quantity",
    "estimated_value",
    "quality_requirements",
    "timeline_urgency",
    "delivery_region",
    "shown_count",
    "eligible_count",
    *(f"top{k}_{name}" for k in range(1, TOP_K + 1) for name in ("manufacturer_id", "region", "score", *FACTORS)),
    "chosen_rank",
    "chosen_manufacturer_id",
    "chosen_region",
    "chosen_quality_score",
    "chosen_on_time_rate",
    "chosen_cost_index",
    "chosen_lead_time_days",
    "chosen_region_match",
    *(f"chosen_{factor}" for factor in FACTORS),
    "chosen",
    "converted",
    "contract_value",
    "satisfaction",
    "delivered_on_time",
    "time_to_match_hours",
    "decided_day",
    "delivered_day",
)
CUSTOMER_COLUMNS: tuple[str, ...] = ("customer_id", "industry", "company_size", "region", "segment", "first_seen_day")

SEGMENT_LABELS: tuple[str, ...] = ("selective", "price_hunter", "quality_seeker", "decisive", "deliberate_comparer")
SEGMENT_MIN_DECISIONS = 6
SELECTIVE_WALK_SHARE = 0.8
PRICE_LIFT = 0.06
QUALITY_LIFT = 0.08
DECISIVE_TOP_SHARE = 0.6
DELIBERATE_HOURS = 48.0

REGION_CODES = tuple(REGIONS)
_TOP_FACTORS = [[f"top{k}_{factor}" for factor in FACTORS] for k in range(1, TOP_K + 1)]
_TOP_FACTOR_COLUMNS = [column for columns in _TOP_FACTORS for column in columns]
_REGION_POSITIONS = pd.Index(REGION_CODES)


def _matrix(orders, names: list[str]) -> np.ndarray:
    """(n, len(names)) floats of these columns of a frame, or of a mapping of column -> values (serving)."""
    if isinstance(orders, pd.DataFrame):
        return orders[names].to_numpy(dtype=float)
    return np.column_stack([np.asarray(orders[name], dtype=float) for name in names])


def _shown_factors(orders) -> np.ndarray:
    """(n, TOP_K, FACTORS): the factor features of each shown slot (NaN past the end of the list)."""
    matrix = _matrix(orders, _TOP_FACTOR_COLUMNS)
    return matrix.reshape(len(matrix), TOP_K, len(FACTORS))


def _region_positions(values) -> np.ndarray:
    """Each region code's position in REGIONS as a float (NaN for a missing or unknown code)."""
    positions = _REGION_POSITIONS.get_indexer(np.asarray(values, dtype=object)).astype(float)
    positions[positions < 0] = np.nan
    return positions


@dataclass(frozen=True, eq=False)
class LabelledFrame:
    """Model inputs: numeric features, labels (NaN / None where not yet known), each row's feature time and
    customer (for time-ordered splits and grouping), indexed like the source rows (order_id or customer_id)."""

    features: pd.DataFrame
    labels: pd.Series
    times: pd.Series
    groups: pd.Series

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.labels) == len(self.times) == len(self.groups) == n):
            raise ValueError("features, labels, times and groups must have one row each")

    def __len__(self) -> int:
        return len(self.features)


def validate_orders(orders: pd.DataFrame) -> None:
    missing = [c for c in ORDER_COLUMNS if c not in orders.columns]
    if missing:
        raise ValueError(f"orders frame lacks columns: {', '.join(missing)}")


def validate_customers(customers: pd.DataFrame) -> None:
    missing = [c for c in CUSTOMER_COLUMNS if c not in customers.columns]
    if missing:
        raise ValueError(f"customers frame lacks columns: {', '.join(missing)}")


# ---------------------------------------------------------------------------------------------------------
# Point-in-time history: cumulative sums of events strictly before a query time, per customer.


def _num(values) -> np.ndarray:
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)


def _bool(series: pd.Series) -> np.ndarray:
    return series.fillna(False).astype(bool).to_numpy()


class _EventLog:
    """Events (customer, time, values) summed strictly before query times, exactly (integer keys)."""

    def __init__(self, customer: np.ndarray, time: np.ndarray, values: dict[str, np.ndarray], codes: pd.Index):
        keep = np.isfinite(time)
        self.codes = codes
        self.customer = codes.get_indexer(customer[keep])
        self.time = time[keep]
        self.names = list(values)
        order = np.lexsort((self.time, self.customer))
        self.customer, self.time = self.customer[order], self.time[order]
        matrix = np.column_stack([np.nan_to_num(values[n][keep].astype(float))[order] for n in self.names])
        # Per-customer running sums (each customer's block summed on its own, so that one customer's rows
        # never change another's figures, not even by rounding).
        running = pd.DataFrame(matrix).groupby(self.customer, sort=False).cumsum().to_numpy()
        self.cumulative = np.vstack([np.zeros((1, len(self.names))), running])
        self.unique_times = np.unique(self.time)
        width = len(self.unique_times) + 1
        self.keys = self.customer.astype(np.int64) * width + np.searchsorted(self.unique_times, self.time)

    def _positions(self, customer: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query: the index of the customer's first event and one past its last event before the time."""
        codes = self.codes.get_indexer(customer).astype(np.int64)
        query_rank = np.searchsorted(self.unique_times, time, side="left")  # event times strictly before
        width = len(self.unique_times) + 1
        start = np.searchsorted(self.keys, codes * width, side="left")
        positions = np.searchsorted(self.keys, codes * width + query_rank, side="left")
        return start, positions

    def before(self, customer: np.ndarray, time: np.ndarray) -> pd.DataFrame:
        start, positions = self._positions(customer, time)
        sums = np.where((positions > start)[:, None], self.cumulative[positions], 0.0)
        return pd.DataFrame(sums, columns=self.names)

    def last_time_before(self, customer: np.ndarray, time: np.ndarray) -> np.ndarray:
        if not len(self.time):  # no events at all (a customer without orders)
            return np.full(len(customer), np.nan)
        start, positions = self._positions(customer, time)
        return np.where(positions > start, self.time[np.maximum(positions - 1, 0)], np.nan)

    def first_time(self, customer: np.ndarray, time: np.ndarray) -> np.ndarray:
        if not len(self.time):
            return np.full(len(customer), np.nan)
        start, positions = self._positions(customer, time)
        return np.where(positions > start, self.time[np.minimum(start, len(self.time) - 1)], np.nan)


@dataclass(frozen=True, eq=False)
class _Logs:
    created: _EventLog
    decided: _EventLog
    delivered: _EventLog
    origin: float
    personal: _EventLog | None = None


def _shown_means(orders: pd.DataFrame) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nanmean(_shown_factors(orders), axis=1)


def chosen_lift(orders: pd.DataFrame) -> np.ndarray:
    """(n, FACTORS): the chosen manufacturer's factors minus the mean of the list shown (> 0: picked above the
    list on that factor; NaN for a walk-away)."""
    return orders[[f"chosen_{f}" for f in FACTORS]].to_numpy(dtype=float) - _shown_means(orders)


def _logs(orders: pd.DataFrame) -> _Logs:
    validate_orders(orders)
    customer = orders["customer_id"].to_numpy()
    codes = pd.Index(pd.unique(customer))
    created = _num(orders["created_day"])
    decided = _num(orders["decided_day"])
    delivered = _num(orders["delivered_day"])
    origin = float(np.nanmin(created)) if len(created) else 0.0
    decay = math.log(2) / BAD_EXPERIENCE_HALF_LIFE_DAYS
    chosen = _bool(orders["chosen"])
    converted = _bool(orders["converted"]) & chosen
    rank = _num(orders["chosen_rank"])
    hours = _num(orders["time_to_match_hours"])
    shown_mean = _shown_means(orders)
    lift = np.where(chosen[:, None], chosen_lift(orders), 0.0)
    satisfaction = _num(orders["satisfaction"])
    on_time = _num(orders["delivered_on_time"])
    rated = np.isfinite(satisfaction)
    late = on_time == 0.0
    bad_rating = rated & (satisfaction <= 2)
    walk = ~chosen
    lost = chosen & ~converted

    decided_values: dict[str, np.ndarray] = {
        "decided": np.ones(len(orders)),
        "chosen": chosen.astype(float),
        "converted": converted.astype(float),
        "walk": walk.astype(float),
        "lost": lost.astype(float),
        "hours": np.where(chosen, hours, 0.0),
        "hours_n": (chosen & np.isfinite(hours)).astype(float),
        "log_hours": np.where(chosen & np.isfinite(hours), np.log(np.maximum(hours, 1e-3)), 0.0),
        "rank": np.where(chosen, rank, 0.0),
        "top1": (chosen & (rank == 1)).astype(float),
        "shown": _num(orders["shown_count"]),
        "value": _num(orders["contract_value"]) * converted,
        "bad_decayed": (0.25 * (walk | lost)) * np.exp(decay * (decided - origin)),
    }
    for f, factor in enumerate(FACTORS):
        decided_values[f"lift_{factor}"] = lift[:, f]
        decided_values[f"shown_{factor}"] = np.nan_to_num(shown_mean[:, f])
        decided_values[f"conv_shown_{factor}"] = np.nan_to_num(shown_mean[:, f]) * converted
    chosen_region = orders["chosen_region"].to_numpy()
    for r, region in enumerate(REGION_CODES):
        shown_here = sum((orders[f"top{k}_region"].to_numpy() == region).astype(float) for k in range(1, TOP_K + 1))
        decided_values[f"region_shown_{r}"] = shown_here
        decided_values[f"region_chosen_{r}"] = (chosen_region == region).astype(float)
    delivered_values = {
        "rated": rated.astype(float),
        "satisfaction": np.where(rated, satisfaction, 0.0),
        "delivered": np.isfinite(on_time).astype(float),
        "late": late.astype(float),
        "bad_rating": bad_rating.astype(float),
        "bad_decayed": (late.astype(float) + bad_rating) * np.exp(decay * (delivered - origin)),
    }
    decided_log = _EventLog(customer, decided, decided_values, codes)
    # The personal choice model's sufficient statistics, each past list described as of its own creation.
    region_lift = _region_lift(_region_table(decided_log.before(customer, created)), orders)
    design = _personal_design(orders, region_lift)
    rank_chosen = np.where(chosen, rank, 0)
    picked = (np.arange(1, TOP_K + 1)[None, :] == rank_chosen[:, None]).astype(float)
    gram = np.einsum("nki,nkj->nij", design, design).reshape(len(orders), PERSONAL_DIM**2)
    personal_values = {f"gram_{i}": gram[:, i] for i in range(gram.shape[1])}
    choice_target = np.einsum("nki,nk->ni", design, picked)
    conversion_target = np.einsum("nki,nk->ni", design, picked * converted[:, None])
    for i in range(PERSONAL_DIM):
        personal_values[f"choice_{i}"] = choice_target[:, i]
        personal_values[f"conversion_{i}"] = conversion_target[:, i]
    return _Logs(
        created=_EventLog(customer, created, {"orders": np.ones(len(orders))}, codes),
        decided=decided_log,
        delivered=_EventLog(customer, delivered, delivered_values, codes),
        origin=origin,
        personal=_EventLog(customer, decided, personal_values, codes),
    )


PERSONAL_DIM = 3 + len(FACTORS)  # [1, ln position, region lift, factors]
PERSONAL_RIDGE = np.array([0.05, 1.0, 1.0] + [1.0] * len(FACTORS))


def _region_table(decided_sums: pd.DataFrame) -> np.ndarray:
    """(n, REGIONS): log of how much more often than shown the customer chose each region before (shrunk to 0
    with little history), from the region counts of decided orders."""
    shown_r = decided_sums[[f"region_shown_{r}" for r in range(len(REGION_CODES))]].to_numpy()
    chosen_r = decided_sums[[f"region_chosen_{r}" for r in range(len(REGION_CODES))]].to_numpy()
    base = (chosen_r.sum(axis=1, keepdims=True) + 0.5) / (shown_r.sum(axis=1, keepdims=True) + 2.5)
    return np.log(((chosen_r + base) / (shown_r + 1.0)) / base)


def _region_lift(table: np.ndarray, orders) -> np.ndarray:
    """(n, TOP_K): the `_region_table` lift of each shown slot's region (NaN past the end of the list)."""
    out = np.full((len(table), TOP_K), np.nan)
    for k in range(TOP_K):
        codes = _region_positions(orders[f"top{k + 1}_region"])
        ok = np.isfinite(codes)
        out[ok, k] = table[np.flatnonzero(ok), codes[ok].astype(int)]
    return out


def _personal_design(orders, region_lift: np.ndarray) -> np.ndarray:
    """(n, TOP_K, PERSONAL_DIM) rows [1, ln position, region lift, factors] of each shown slot (0 past the end)."""
    stacked = _shown_factors(orders)
    present = ~np.isnan(stacked[:, :, 0])
    n = len(stacked)
    design = np.concatenate(
        [
            np.ones((n, TOP_K, 1)),
            np.broadcast_to(np.log(np.arange(1, TOP_K + 1))[None, :, None], (n, TOP_K, 1)),
            np.nan_to_num(region_lift)[:, :, None],
            np.nan_to_num(stacked),
        ],
        axis=2,
    )
    return np.where(present[:, :, None], design, 0.0)


def _personal_coefficients(sums: pd.DataFrame) -> np.ndarray:
    """(n, PERSONAL_DIM, 2): the customer's own linear choice and conversion models (ridge), from the personal
    sums of its lists decided before a time."""
    gram = sums[[f"gram_{i}" for i in range(PERSONAL_DIM**2)]].to_numpy().reshape(-1, PERSONAL_DIM, PERSONAL_DIM)
    gram = gram + np.diag(PERSONAL_RIDGE)[None, :, :]
    targets = np.stack(
        [
            sums[[f"choice_{i}" for i in range(PERSONAL_DIM)]].to_numpy(),
            sums[[f"conversion_{i}" for i in range(PERSONAL_DIM)]].to_numpy(),
        ],
        axis=2,
    )
    return np.linalg.solve(gram, targets)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _history(logs: _Logs, customer: np.ndarray, time: np.ndarray, first_seen: np.ndarray) -> pd.DataFrame:
    """The customer's history strictly before each query time: engagement, outcomes, preferences, recency."""
    decay = math.log(2) / BAD_EXPERIENCE_HALF_LIFE_DAYS
    known = logs.created.codes.get_indexer(customer) >= 0
    customer = np.where(known, customer, logs.created.codes[0] if len(logs.created.codes) else 0)
    created = logs.created.before(customer, time)["orders"].to_numpy()
    d = logs.decided.before(customer, time)
    v = logs.delivered.before(customer, time)
    last = logs.created.last_time_before(customer, time)
    first = logs.created.first_time(customer, time)
    out: dict[str, np.ndarray] = {"hist_orders": created}
    for window in RECENT_WINDOWS_DAYS:
        out[f"hist_orders_{int(window)}d"] = created - logs.created.before(customer, time - window)["orders"].to_numpy()
    decided = d["decided"].to_numpy()
    chosen = d["chosen"].to_numpy()
    out["hist_decided"] = decided
    out["hist_choice_rate"] = _ratio(chosen, decided)
    out["hist_conversion_rate"] = _ratio(d["converted"].to_numpy(), decided)
    out["hist_conversions"] = d["converted"].to_numpy()
    out["hist_walk_share"] = _ratio(d["walk"].to_numpy(), decided)
    out["hist_lost_share"] = _ratio(d["lost"].to_numpy(), chosen)
    out["hist_mean_hours"] = _ratio(d["hours"].to_numpy(), d["hours_n"].to_numpy())
    out["hist_mean_log_hours"] = _ratio(d["log_hours"].to_numpy(), d["hours_n"].to_numpy())
    out["hist_mean_rank"] = _ratio(d["rank"].to_numpy(), chosen)
    out["hist_top1_share"] = _ratio(d["top1"].to_numpy(), chosen)
    out["hist_mean_contract_value"] = _ratio(d["value"].to_numpy(), d["converted"].to_numpy())
    for factor in FACTORS:
        out[f"hist_lift_{factor}"] = _ratio(d[f"lift_{factor}"].to_numpy(), chosen)
        shown = _ratio(d[f"shown_{factor}"].to_numpy(), decided)
        out[f"hist_shown_{factor}"] = shown
        out[f"hist_converting_shown_{factor}"] = (
            _ratio(d[f"conv_shown_{factor}"].to_numpy(), d["converted"].to_numpy()) - shown
        )
    recent_d = d.to_numpy() - logs.decided.before(customer, time - 90.0).to_numpy()
    recent_d = pd.DataFrame(recent_d, columns=d.columns)
    out["hist_walk_share_90d"] = _ratio(recent_d["walk"].to_numpy(), recent_d["decided"].to_numpy())
    out["hist_conversion_rate_90d"] = _ratio(recent_d["converted"].to_numpy(), recent_d["decided"].to_numpy())
    rated = v["rated"].to_numpy()
    out["hist_rated"] = rated
    out["hist_mean_satisfaction"] = _ratio(v["satisfaction"].to_numpy(), rated)
    recent_v = v.to_numpy() - logs.delivered.before(customer, time - 90.0).to_numpy()
    recent_v = pd.DataFrame(recent_v, columns=v.columns)
    recent_mean = _ratio(recent_v["satisfaction"].to_numpy(), recent_v["rated"].to_numpy())
    earlier_mean = _ratio(
        v["satisfaction"].to_numpy() - recent_v["satisfaction"].to_numpy(),
        rated - recent_v["rated"].to_numpy(),
    )
    out["hist_satisfaction_90d"] = recent_mean
    out["hist_satisfaction_trend"] = recent_mean - earlier_mean
    out["hist_late_share"] = _ratio(v["late"].to_numpy(), v["delivered"].to_numpy())
    out["hist_late_deliveries"] = v["late"].to_numpy()
    out["hist_bad_ratings"] = v["bad_rating"].to_numpy()
    out["hist_bad_ratings_90d"] = recent_v["bad_rating"].to_numpy()
    decayed = (d["bad_decayed"].to_numpy() + v["bad_decayed"].to_numpy()) * np.exp(-decay * (time - logs.origin))
    out["hist_bad_experience_decayed"] = decayed
    out["days_since_last_order"] = time - last
    out["days_since_first_order"] = time - first
    out["days_since_first_seen"] = time - first_seen
    tenure = np.maximum(time - np.fmin(first, first_seen), 1.0)
    out["order_rate"] = created / tenure
    out["expected_orders_in_silence"] = out["order_rate"] * np.nan_to_num(out["days_since_last_order"])
    frame = pd.DataFrame(out)
    frame.loc[~known, :] = np.nan
    frame.loc[~known, ["hist_orders", "hist_decided", "hist_rated", "hist_conversions"]] = 0.0
    # Region counts stay separate: they feed the personal region lift of a shown list.
    regions = d[[c for c in d.columns if c.startswith("region_")]].copy()
    regions.loc[~known, :] = 0.0
    frame.attrs["regions"] = regions
    return frame


def _one_hot(values, vocabulary: tuple[str, ...] | list[str], prefix: str) -> dict[str, np.ndarray]:
    array = np.asarray(values, dtype=object)
    return {f"{prefix}_{code}": (array == code).astype(float) for code in vocabulary}


def _account(customers: pd.DataFrame, customer: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Account attributes encoded numerically (fixed vocabularies; an unknown code is all zeros)."""
    validate_customers(customers)
    table = customers.drop_duplicates("customer_id").set_index("customer_id").reindex(customer)
    sizes = list(COMPANY_SIZES)
    out = {
        "company_size_level": table["company_size"].map({s: float(i) for i, s in enumerate(sizes)}).to_numpy(),
        **_one_hot(table["industry"], tuple(INDUSTRIES), "industry"),
        **_one_hot(table["segment"], tuple(SEGMENTS), "declared_segment"),
    }
    return pd.DataFrame(out), table["region"].to_numpy(), _num(table["first_seen_day"])


def _order_context(orders, home_region: np.ndarray) -> dict[str, np.ndarray]:
    complexity = np.asarray(orders["complexity_level"], dtype=object)
    return {
        "complexity": np.array([COMPLEXITY_LEVELS.get(c, np.nan) for c in complexity], dtype=float),
        "log_estimated_value": np.log(np.maximum(_num(orders["estimated_value"]), 1.0)),
        "log_quantity": np.log(np.maximum(_num(orders["quantity"]), 1.0)),
        "quality_requirements": _num(orders["quality_requirements"]),
        "timeline_urgency": _num(orders["timeline_urgency"]),
        "delivery_home_region": (np.asarray(orders["delivery_region"], dtype=object) == home_region).astype(float),
        **_one_hot(orders["process"], tuple(PROCESSES), "process"),
    }


def _temporal(time: np.ndarray) -> dict[str, np.ndarray]:
    phase = 2 * np.pi * (time % 30.4375) / 30.4375
    return {"day_of_week": np.floor(time) % 7, "month_phase_sin": np.sin(phase), "month_phase_cos": np.cos(phase)}


@dataclass(frozen=True, eq=False)
class _Preferences:
    """What the shown-list features read of a customer's past, per row: its mean lifts, how the lists it
    converted on differed from the lists it was shown, the mean list it was shown, its region table and its
    personal choice and conversion models."""

    lift: np.ndarray  # (n, FACTORS)
    converting: np.ndarray  # (n, FACTORS)
    past_shown: np.ndarray  # (n, FACTORS)
    region_table: np.ndarray  # (n, REGIONS)
    coefficients: np.ndarray  # (n, PERSONAL_DIM, 2)

    def take(self, rows: np.ndarray) -> _Preferences:
        return _Preferences(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))


def _preferences(history: pd.DataFrame, personal_sums: pd.DataFrame) -> _Preferences:
    return _Preferences(
        lift=history[[f"hist_lift_{f}" for f in FACTORS]].to_numpy(),
        converting=history[[f"hist_converting_shown_{f}" for f in FACTORS]].to_numpy(),
        past_shown=history[[f"hist_shown_{f}" for f in FACTORS]].to_numpy(),
        region_table=_region_table(history.attrs["regions"]),
        coefficients=_personal_coefficients(personal_sums),
    )


def _shown_summary(orders, preferences: _Preferences) -> dict[str, np.ndarray]:
    """The shown list, and how it fits what this customer chose and converted on before."""
    stacked = _shown_factors(orders)  # (n, K, F)
    present = ~np.isnan(stacked[:, :, 0])
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(stacked, axis=1)
        maximum = np.nanmax(np.where(present[:, :, None], stacked, -np.inf), axis=1)
    scores = _matrix(orders, [f"top{k}_score" for k in range(1, TOP_K + 1)])
    out: dict[str, np.ndarray] = {
        "shown_count": _num(orders["shown_count"]),
        "log_eligible_count": np.log1p(np.maximum(_num(orders["eligible_count"]), 0.0)),
        "top1_score": scores[:, 0],
        "mean_score": np.nanmean(scores, axis=1),
    }
    for f, factor in enumerate(FACTORS):
        out[f"top1_{factor}"] = stacked[:, 0, f]
        out[f"mean_{factor}"] = mean[:, f]
        out[f"max_{factor}"] = np.where(np.isfinite(maximum[:, f]), maximum[:, f], np.nan)
    # Personal fit: the customer's past lift (what it chose over the list mean) applied to this list.
    personal = np.einsum("nkf,nf->nk", stacked - mean[:, None, :], np.nan_to_num(preferences.lift))
    personal = np.where(present, personal, np.nan)
    out["personal_fit_top1"] = personal[:, 0]
    out["personal_fit_max"] = np.nanmax(np.where(present, personal, -np.inf), axis=1)
    out["converting_list_fit"] = np.sum(
        np.nan_to_num(preferences.converting) * np.nan_to_num(mean - preferences.past_shown), axis=1
    )
    # Personal region lift: how often the customer chose a region against how often it was shown it.
    region_lift = _region_lift(preferences.region_table, orders)
    out["region_lift_top1"] = region_lift[:, 0]
    with np.errstate(invalid="ignore"):
        out["region_lift_max"] = np.nanmax(np.where(np.isnan(region_lift), -np.inf, region_lift), axis=1)
        out["region_lift_mean"] = np.nanmean(region_lift, axis=1)
        combined = np.where(present, np.nan_to_num(personal) + 0.1 * np.nan_to_num(region_lift), -np.inf)
    out["personal_region_fit_max"] = np.max(combined, axis=1)
    scored = np.einsum("nki,nic->nkc", _personal_design(orders, region_lift), preferences.coefficients)
    choice = np.where(present, scored[:, :, 0], np.nan)
    conversion = np.where(present, scored[:, :, 1], np.nan)
    out["personal_choice_sum"] = np.nansum(choice, axis=1)
    out["personal_choice_max"] = np.nanmax(np.where(present, choice, -np.inf), axis=1)
    out["personal_conversion_sum"] = np.nansum(conversion, axis=1)
    out["personal_conversion_max"] = np.nanmax(np.where(present, conversion, -np.inf), axis=1)
    out["personal_conversion_top1"] = conversion[:, 0]
    return out


HISTORY_FOR_ORDERS = (
    "hist_orders",
    "hist_orders_90d",
    "hist_decided",
    "hist_choice_rate",
    "hist_conversion_rate",
    "hist_conversions",
    "hist_walk_share",
    "hist_lost_share",
    "hist_mean_rank",
    "hist_top1_share",
    "hist_mean_hours",
    "hist_rated",
    "hist_mean_satisfaction",
    "hist_late_share",
    "hist_bad_experience_decayed",
    "days_since_last_order",
    "days_since_first_order",
    "days_since_first_seen",
    "order_rate",
    *(f"hist_lift_{f}" for f in FACTORS),
)


def _in_window(values: np.ndarray, start: float | None, cutoff: float) -> np.ndarray:
    return (values < cutoff) & (True if start is None else values >= start)


def success_frame(
    orders: pd.DataFrame, customers: pd.DataFrame, *, cutoff: float, start: float | None = None
) -> LabelledFrame:
    """One row per order created in [start, cutoff), features as of its creation; label `converted` (NaN for
    an order not decided before the cut-off). Index: order_id."""
    logs = _logs(orders)
    rows = orders[_in_window(_num(orders["created_day"]), start, cutoff)]
    customer = rows["customer_id"].to_numpy()
    time = _num(rows["created_day"])
    account, home, first_seen = _account(customers, customer)
    history = _history(logs, customer, time, first_seen)
    preferences = _preferences(history, logs.personal.before(customer, time))
    features = pd.concat(
        [
            pd.DataFrame({**_order_context(rows, home), **_shown_summary(rows, preferences)}),
            history[list(HISTORY_FOR_ORDERS)],
            account,
            pd.DataFrame(_temporal(time)),
        ],
        axis=1,
    )
    known = _num(rows["decided_day"]) < cutoff
    labels = np.where(known, _bool(rows["converted"]).astype(float), np.nan)
    return _labelled(features, labels, time, customer, rows["order_id"])


@dataclass(frozen=True, eq=False)
class CustomerState:
    """One customer's history as of a time, kept by serving to score its new orders without rebuilding it:
    a new order created at `time` gets exactly the features `success_frame` would give it among all the
    orders (an order's own events never count in its features: everything is strictly before its creation;
    a test checks the equality)."""

    customer_id: int
    time: float
    home: np.ndarray  # (1,) the account's region
    customer_features: dict[str, float]  # the history and account columns of the success features
    preferences: _Preferences  # one row


def customer_state(orders: pd.DataFrame, customers: pd.DataFrame, *, customer_id: int, time: float) -> CustomerState:
    """The state of `customer_id` as of `time` from its orders (events strictly before the time)."""
    logs = _logs(orders)
    customer = np.array([customer_id])
    times = np.array([float(time)])
    account, home, first_seen = _account(customers, customer)
    history = _history(logs, customer, times, first_seen)
    kept = pd.concat([history[list(HISTORY_FOR_ORDERS)], account], axis=1).astype(float)
    return CustomerState(
        customer_id=customer_id,
        time=float(time),
        home=home,
        customer_features={name: float(value) for name, value in kept.iloc[0].items()},
        preferences=_preferences(history, logs.personal.before(customer, times)),
    )


def success_columns_for(state: CustomerState, rows) -> dict[str, np.ndarray]:
    """The success features of new orders of the state's customer, all created at `state.time`, as columns:
    `rows` is a frame of ORDER_COLUMNS or a mapping of each column to its values (what serving passes, without
    building a frame)."""
    n = len(rows["order_id"])
    take = np.zeros(n, dtype=int)
    return {
        **_order_context(rows, state.home[take]),
        **_shown_summary(rows, state.preferences.take(take)),
        **{name: np.full(n, value) for name, value in state.customer_features.items()},
        **_temporal(np.full(n, state.time)),
    }


def success_features_for(state: CustomerState, rows) -> pd.DataFrame:
    """`success_columns_for` as a frame indexed by order_id."""
    columns = success_columns_for(state, rows)
    return pd.DataFrame(columns, index=pd.Index(np.asarray(rows["order_id"]))).astype(float)


def satisfaction_frame(
    orders: pd.DataFrame, customers: pd.DataFrame, *, cutoff: float, start: float | None = None
) -> LabelledFrame:
    """One row per converted order decided in [start, cutoff), features as of its decision (the order, the
    chosen manufacturer, the customer's history); label the 1-5 rating (NaN until rated before the cut-off)."""
    logs = _logs(orders)
    decided = _num(orders["decided_day"])
    rows = orders[_in_window(decided, start, cutoff) & _bool(orders["converted"])]
    customer = rows["customer_id"].to_numpy()
    time = _num(rows["decided_day"])
    account, home, first_seen = _account(customers, customer)
    history = _history(logs, customer, time, first_seen)
    chosen = {
        "chosen_rank": _num(rows["chosen_rank"]),
        "chosen_quality_score": _num(rows["chosen_quality_score"]),
        "chosen_on_time_rate": _num(rows["chosen_on_time_rate"]),
        "chosen_cost_index": _num(rows["chosen_cost_index"]),
        "chosen_lead_time_days": _num(rows["chosen_lead_time_days"]),
        "chosen_region_match": _num(rows["chosen_region_match"]),
        "chosen_quality_gap": _num(rows["chosen_quality_score"]) - _num(rows["quality_requirements"]),
        "log_time_to_match_hours": np.log(np.maximum(_num(rows["time_to_match_hours"]), 1e-3)),
        **{f"chosen_{f}": _num(rows[f"chosen_{f}"]) for f in FACTORS},
    }
    chosen_frame = pd.DataFrame(chosen)
    lift = history[[f"hist_lift_{f}" for f in FACTORS]].to_numpy()
    chosen_frame["personal_fit_chosen"] = np.sum(np.nan_to_num(lift) * chosen_lift(rows), axis=1)
    table = _region_table(history.attrs["regions"])
    codes = _region_positions(rows["chosen_region"])
    ok = np.isfinite(codes)
    region_lift = np.full(len(rows), np.nan)
    region_lift[ok] = table[np.flatnonzero(ok), codes[ok].astype(int)]
    chosen_frame["region_lift_chosen"] = region_lift
    features = pd.concat(
        [
            pd.DataFrame(_order_context(rows, home)),
            chosen_frame,
            history[list(HISTORY_FOR_ORDERS)],
            account,
            pd.DataFrame(_temporal(time)),
        ],
        axis=1,
    )
    known = _num(rows["delivered_day"]) < cutoff
    labels = np.where(known, _num(rows["satisfaction"]), np.nan)
    return _labelled(features, labels, time, customer, rows["order_id"])


def _labelled(features: pd.DataFrame, labels, time: np.ndarray, customer: np.ndarray, index) -> LabelledFrame:
    index = pd.Index(np.asarray(index), name=getattr(index, "name", None))
    features = features.set_axis(index, axis=0).astype(float)
    return LabelledFrame(
        features=features,
        labels=pd.Series(labels, index=index, name="label"),
        times=pd.Series(time, index=index, name="time"),
        groups=pd.Series(customer, index=index, name="customer_id"),
    )


def _customer_features(
    orders: pd.DataFrame, customers: pd.DataFrame, customer: np.ndarray, cutoff: float, logs: _Logs | None = None
) -> pd.DataFrame:
    logs = logs or _logs(orders)
    time = np.full(len(customer), float(cutoff))
    account, _, first_seen = _account(customers, customer)
    history = _history(logs, customer, time, first_seen)
    history = history.drop(columns=[c for c in history.columns if c.startswith("hist_shown_")])
    return pd.concat([history, account], axis=1)


def active_customers(orders: pd.DataFrame, cutoff: float, *, active_within: float | None = 180.0) -> np.ndarray:
    """Customers with an order created before the cut-off (within `active_within` days of it when given)."""
    created = _num(orders["created_day"])
    mask = created < cutoff
    if active_within is not None:
        mask &= created >= cutoff - active_within
    return np.sort(pd.unique(orders["customer_id"].to_numpy()[mask]))


def churn_labels(
    orders: pd.DataFrame, customer_ids: np.ndarray, cutoff: float, *, horizon: float = CHURN_HORIZON_DAYS
) -> pd.Series:
    """1.0 when the customer creates no order in (cutoff, cutoff + horizon], else 0.0."""
    created = _num(orders["created_day"])
    window = (created > cutoff) & (created <= cutoff + horizon)
    ordering = set(orders["customer_id"].to_numpy()[window].tolist())
    return pd.Series([0.0 if c in ordering else 1.0 for c in customer_ids], index=pd.Index(customer_ids))


def churn_frame(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    cutoff: float,
    horizon: float = CHURN_HORIZON_DAYS,
    data_end: float | None = None,
    active_within: float | None = 180.0,
    bgnbd: bool = True,
) -> LabelledFrame:
    """One row per customer active before the cut-off, features as of it; label: no order in the `horizon`
    days after it (NaN when `data_end` is given and the window is not over by then). With `bgnbd`, adds the
    BG/NBD P(alive) and expected orders in the horizon, fitted on the customers' histories before the cut-off."""
    past = orders[_num(orders["created_day"]) < cutoff]
    customer = active_customers(past, cutoff, active_within=active_within)
    features = _customer_features(past, customers, customer, cutoff)
    features["log_days_since_last_order"] = np.log1p(features["days_since_last_order"])
    features["log_order_rate"] = np.log(features["order_rate"] + 1e-3)
    features["log_expected_orders_in_silence"] = np.log1p(features["expected_orders_in_silence"])
    features["poisson_no_order_in_horizon"] = np.exp(-horizon * features["order_rate"])
    if bgnbd:
        features = pd.concat([features, bgnbd_features(past, customer, cutoff, horizon=horizon)], axis=1)
    labels = churn_labels(orders, customer, cutoff, horizon=horizon).to_numpy()
    if data_end is not None and cutoff + horizon > data_end:
        labels = np.full(len(customer), np.nan)
    return _labelled(features, labels, np.full(len(customer), float(cutoff)), customer, pd.Index(customer))


def rfm(orders: pd.DataFrame, cutoff: float, customer: np.ndarray | None = None) -> pd.DataFrame:
    """BG/NBD's inputs in days, per customer with an order before the cut-off (or per `customer`, NaN for one
    without): frequency (repeat orders), recency (first to last order) and age (first order to the cut-off)."""
    created = (
        orders[_num(orders["created_day"]) < cutoff].groupby("customer_id")["created_day"].agg(["count", "min", "max"])
    )
    if customer is not None:
        created = created.reindex(customer)
    return pd.DataFrame(
        {
            "frequency": (created["count"] - 1).to_numpy(dtype=float),
            "recency": (created["max"] - created["min"]).to_numpy(dtype=float),
            "age": (cutoff - created["min"]).to_numpy(dtype=float),
        },
        index=created.index,
    )


def bgnbd_columns(params: clv.BGNBDParams, history: pd.DataFrame, *, horizon: float) -> pd.DataFrame:
    """The churn features of BG/NBD for `rfm` rows: P(alive) and the expected orders in the horizon."""
    frequency, recency, age = (history[name].to_numpy() for name in ("frequency", "recency", "age"))
    return pd.DataFrame(
        {
            "bgnbd_p_alive": np.asarray(clv.probability_alive(params, frequency, recency, age), dtype=float),
            "bgnbd_expected_orders": np.asarray(
                clv.expected_purchases(params, horizon, frequency, recency, age), dtype=float
            ),
        }
    )


def bgnbd_features(orders: pd.DataFrame, customer: np.ndarray, cutoff: float, *, horizon: float) -> pd.DataFrame:
    """BG/NBD P(alive) and expected orders in the horizon, fitted on the customers' histories before the cut-off."""
    history = rfm(orders, cutoff, customer)
    try:
        params = clv.fit_bgnbd(*(history[name].to_numpy() for name in ("frequency", "recency", "age")))
    except (ValueError, RuntimeError, FloatingPointError):
        return pd.DataFrame({"bgnbd_p_alive": np.nan, "bgnbd_expected_orders": np.nan}, index=range(len(customer)))
    return bgnbd_columns(params, history, horizon=horizon)


# ---------------------------------------------------------------------------------------------------------
# Behavioural segments.


def segment_behaviour(orders: pd.DataFrame, *, start: float, end: float) -> pd.DataFrame:
    """Per customer, the behaviour the segment rule reads over the orders created in [start, end) and decided
    before `end`: decisions, choices, walk-away share, top-rank share, median decision hours, mean lifts."""
    created = _num(orders["created_day"])
    window = orders[(created >= start) & (created < end) & (_num(orders["decided_day"]) < end)]
    chosen = _bool(window["chosen"])
    lift = chosen_lift(window)
    frame = pd.DataFrame(
        {
            "customer_id": window["customer_id"].to_numpy(),
            "decided": 1.0,
            "chosen": chosen.astype(float),
            "top1": (chosen & (_num(window["chosen_rank"]) == 1)).astype(float),
            "hours": np.where(chosen, _num(window["time_to_match_hours"]), np.nan),
            "lift_cost": np.where(chosen, lift[:, FACTORS.index("cost_fit")], np.nan),
            "lift_quality": np.where(chosen, lift[:, FACTORS.index("quality_fit")], np.nan),
        }
    )
    grouped = frame.groupby("customer_id")
    out = pd.DataFrame(
        {
            "decisions": grouped["decided"].sum(),
            "choices": grouped["chosen"].sum(),
            "walk_share": 1.0 - grouped["chosen"].mean(),
            "top1_share": grouped["top1"].sum() / grouped["chosen"].sum().replace(0, np.nan),
            "median_hours": grouped["hours"].median(),
            "lift_cost": grouped["lift_cost"].mean(),
            "lift_quality": grouped["lift_quality"].mean(),
        }
    )
    out.index.name = "customer_id"
    return out


def segment_rule(behaviour: pd.DataFrame) -> pd.Series:
    """The documented rule (module docstring) over `segment_behaviour`; None below SEGMENT_MIN_DECISIONS."""
    b = behaviour
    enough = b["decisions"] >= SEGMENT_MIN_DECISIONS
    selective = b["walk_share"] >= SELECTIVE_WALK_SHARE
    price = (b["lift_cost"] >= PRICE_LIFT) & (b["lift_cost"] - PRICE_LIFT > b["lift_quality"] - QUALITY_LIFT)
    quality = b["lift_quality"] >= QUALITY_LIFT
    decisive = (b["top1_share"] >= DECISIVE_TOP_SHARE) & (b["median_hours"] < DELIBERATE_HOURS)
    label = np.select(
        [selective, price, quality, decisive], list(SEGMENT_LABELS[:4]), default=SEGMENT_LABELS[4]
    ).astype(object)
    label[~enough.to_numpy()] = None
    return pd.Series(label, index=b.index, name="segment", dtype=object)


def segment_labels(orders: pd.DataFrame, *, start: float, end: float) -> pd.Series:
    """The behavioural segment of each customer over [start, end) (None below SEGMENT_MIN_DECISIONS decisions)."""
    return segment_rule(segment_behaviour(orders, start=start, end=end))


def segment_frame(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    cutoff: float,
    label_window: float = 180.0,
    min_history_orders: int = 3,
) -> LabelledFrame:
    """One row per customer with at least `min_history_orders` orders before the cut-off: features as of the
    cut-off (its behaviour so far and its account), label the segment of [cutoff, cutoff + label_window)
    (None when unknown or too few decisions there)."""
    past = orders[_num(orders["created_day"]) < cutoff]
    counts = past.groupby("customer_id").size()
    customer = np.sort(counts.index[counts >= min_history_orders].to_numpy())
    features = _customer_features(past, customers, customer, cutoff)
    earlier = segment_behaviour(past, start=-np.inf, end=cutoff).reindex(customer)
    features["median_hours"] = earlier["median_hours"].to_numpy()
    labels = segment_labels(orders, start=cutoff, end=cutoff + label_window).reindex(customer)
    return _labelled(
        features, labels.to_numpy(dtype=object), np.full(len(customer), float(cutoff)), customer, pd.Index(customer)
    )


def rolling_frames(kind: str, orders: pd.DataFrame, customers: pd.DataFrame, cutoffs, **options) -> LabelledFrame:
    """Rows of several cut-offs stacked (churn or segment), in time order; the index is (cutoff, customer_id)."""
    build = {"churn": churn_frame, "segment": segment_frame}[kind]
    frames = [build(orders, customers, cutoff=float(c), **options) for c in sorted(cutoffs)]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise ValueError("no rows at any of the cut-offs")

    def stack(parts: list) -> pd.DataFrame | pd.Series:
        keys = [float(t) for f in frames for t in f.times.iloc[:1]]
        return pd.concat(parts, keys=keys, names=["cutoff", "customer_id"])

    return LabelledFrame(
        features=stack([f.features for f in frames]),
        labels=stack([f.labels for f in frames]),
        times=stack([f.times for f in frames]),
        groups=stack([f.groups for f in frames]),
    )


def rolling_cutoffs(first: float, last: float, *, every: float = 30.0) -> list[float]:
    """first, first + every, ... up to last (inclusive)."""
    if every <= 0:
        raise ValueError("the step between cut-offs must be positive")
    return [float(c) for c in np.arange(first, last + 1e-9, every)]
