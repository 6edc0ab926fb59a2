"""Reads of the predictive engine: the training frames from the database (the columns of
`predictions.ml.features`), the registry's versions, and what the API and the admin list."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
from django.db.models import QuerySet

from marketplace.models import CustomerAccount, Manufacturer, MatchOutcome, Order
from marketplace.vocabulary import FACTORS
from personalization.models import RecommendationSession
from predictions.ml.features import CUSTOMER_COLUMNS, ORDER_COLUMNS, TOP_K, WALK_AWAY_DECISION_HOURS
from predictions.models import ModelStatus, PredictiveModel

ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)  # the fixed origin of the frames' day numbers

NAN = float("nan")


def day_of(moment: datetime | None) -> float:
    return NAN if moment is None else (moment - ORIGIN).total_seconds() / 86400.0


def moment_of(day: float) -> datetime:
    return ORIGIN + timedelta(days=day)


def order_row(order: dict, session: dict | None, outcome: dict | None, makers: dict[int, dict]) -> dict:
    """One row of the `orders` frame: the order's fields (as `Order.values()` gives them), the list its
    session showed (`candidates`, `eligible_count`), its outcome and the chosen manufacturer's attributes."""

    created = day_of(order["created_at"])
    row = {
        "order_id": order["id"],
        "customer_id": order["customer_id"],
        "created_day": created,
        "process": order["process_id"],
        "complexity_level": order["complexity_level"],
        "quantity": order["quantity"],
        "estimated_value": float(order["estimated_value"]),
        "quality_requirements": order["quality_requirements"],
        "timeline_urgency": order["timeline_urgency"],
        "delivery_region": order["delivery_region"],
    }
    candidates = (session or {}).get("candidates") or []
    row["shown_count"] = len(candidates)
    row["eligible_count"] = (session or {}).get("eligible_count", len(candidates))
    for k in range(TOP_K):
        item = candidates[k] if k < len(candidates) else None
        row[f"top{k + 1}_manufacturer_id"] = item["manufacturer_id"] if item else NAN
        row[f"top{k + 1}_region"] = item.get("region") if item else None
        row[f"top{k + 1}_score"] = item["score"] if item else NAN
        for factor in FACTORS:
            row[f"top{k + 1}_{factor}"] = item["features"][factor] if item else NAN
    chosen_item = None
    if outcome is not None:
        chosen_item = next((c for c in candidates if c["manufacturer_id"] == outcome["manufacturer_id"]), None)
    maker = makers.get(outcome["manufacturer_id"]) if outcome else None
    for name in ORDER_COLUMNS:
        if name.startswith("chosen_"):
            row[name] = NAN
    row["chosen_region"] = None
    if outcome is not None and maker is not None:
        row.update(
            chosen_rank=chosen_item["rank"] if chosen_item else NAN,
            chosen_manufacturer_id=outcome["manufacturer_id"],
            chosen_region=maker["region"],
            chosen_quality_score=maker["quality_score"],
            chosen_on_time_rate=maker["on_time_delivery_rate"],
            chosen_cost_index=maker["cost_index"],
            chosen_lead_time_days=maker["avg_lead_time_days"],
            chosen_region_match=float(maker["region"] == order["delivery_region"]),
            **{f"chosen_{f}": (chosen_item["features"][f] if chosen_item else NAN) for f in FACTORS},
        )
    chosen = outcome is not None
    converted = bool(outcome and outcome["converted"])
    hours = outcome["time_to_match"].total_seconds() / 3600.0 if chosen else NAN
    if chosen:
        decided = created + hours / 24.0
    elif order["cancelled_at"] is not None:
        decided = day_of(order["cancelled_at"])
    else:
        decided = created + WALK_AWAY_DECISION_HOURS / 24.0  # no choice yet: a walk-away once this has passed
    delivered = day_of(order["delivered_at"]) if converted else NAN
    row.update(
        chosen=chosen,
        converted=converted,
        contract_value=float(outcome["contract_value"]) if converted and outcome["contract_value"] else NAN,
        satisfaction=float(outcome["satisfaction"]) if outcome and outcome["satisfaction"] else NAN,
        delivered_on_time=(
            float(outcome["delivered_on_time"]) if outcome and outcome["delivered_on_time"] is not None else NAN
        ),
        time_to_match_hours=hours,
        decided_day=decided,
        delivered_day=delivered if not math.isnan(delivered) else NAN,
    )
    return row


def prediction_frames_get(*, customer_ids: list[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `orders` and `customers` frames of `predictions.ml.features` from the database: every order that
    was shown a recommendation list (its first session), with its outcome and the chosen manufacturer's
    public attributes; optionally only some customers' (what a single prediction needs)."""
    orders_qs = Order.objects.all()
    sessions_qs = RecommendationSession.objects.filter(order__isnull=False)
    outcomes_qs = MatchOutcome.objects.all()
    customers_qs = CustomerAccount.objects.all()
    if customer_ids is not None:
        orders_qs = orders_qs.filter(customer_id__in=customer_ids)
        sessions_qs = sessions_qs.filter(customer_id__in=customer_ids)
        outcomes_qs = outcomes_qs.filter(order__customer_id__in=customer_ids)
        customers_qs = customers_qs.filter(pk__in=customer_ids)
    sessions: dict[int, dict] = {}
    for session in sessions_qs.order_by("created_at").values("order_id", "candidates", "eligible_count"):
        sessions.setdefault(session["order_id"], session)  # the first list an order was shown
    outcomes = {
        o["order_id"]: o
        for o in outcomes_qs.values(
            "order_id",
            "manufacturer_id",
            "converted",
            "contract_value",
            "satisfaction",
            "delivered_on_time",
            "time_to_match",
        )
    }
    maker_ids = {o["manufacturer_id"] for o in outcomes.values()}
    makers = {
        m["id"]: m
        for m in Manufacturer.objects.filter(pk__in=maker_ids).values(
            "id", "region", "quality_score", "on_time_delivery_rate", "cost_index", "avg_lead_time_days"
        )
    }
    rows = [
        order_row(order, sessions.get(order["id"]), outcomes.get(order["id"]), makers)
        for order in orders_qs.order_by("created_at", "pk").values(
            "id",
            "customer_id",
            "created_at",
            "process_id",
            "complexity_level",
            "quantity",
            "estimated_value",
            "quality_requirements",
            "timeline_urgency",
            "delivery_region",
            "cancelled_at",
            "delivered_at",
        )
        if order["id"] in sessions
    ]
    orders = pd.DataFrame(rows, columns=list(ORDER_COLUMNS))
    first_order = orders.groupby("customer_id")["created_day"].min() if len(orders) else pd.Series(dtype=float)
    customers = pd.DataFrame(
        [
            {
                "customer_id": c["id"],
                "industry": c["industry"],
                "company_size": c["company_size"],
                "region": c["region"],
                "segment": c["segment"],
                "first_seen_day": min(day_of(c["created_at"]), first_order.get(c["id"], math.inf)),
            }
            for c in customers_qs.values("id", "industry", "company_size", "region", "segment", "created_at")
        ],
        columns=list(CUSTOMER_COLUMNS),
    )
    return orders, customers


def model_versions_list(*, model_type: str | None = None) -> QuerySet[PredictiveModel]:
    queryset = PredictiveModel.objects.defer("artifact").order_by("model_type", "-version")
    return queryset if model_type is None else queryset.filter(model_type=model_type)


def model_deployed_get(*, model_type: str) -> PredictiveModel | None:
    return PredictiveModel.objects.filter(model_type=model_type, status=ModelStatus.DEPLOYED).first()


def training_samples_count(*, model_type: str) -> int:
    """A quick count of the labelled samples a type would train on (what the train endpoint checks before it
    queues a run; the run itself counts exactly): decided orders, rated matches, or customers with orders."""
    if model_type == "success":
        return (
            MatchOutcome.objects.count()
            + Order.objects.filter(cancelled_at__isnull=False).exclude(outcome__isnull=False).count()
        )
    if model_type == "satisfaction":
        return MatchOutcome.objects.filter(satisfaction__isnull=False).count()
    return Order.objects.values("customer_id").distinct().count()
