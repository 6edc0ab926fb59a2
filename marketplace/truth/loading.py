"""Write a simulated world and its history into the database, in bulk, with progress reported.

Public rows (manufacturers, customer accounts, orders, outcomes, recommendation sessions) go where the
engine reads them; the hidden truth goes to the tables of this app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from marketplace.models import (
    Certification,
    CustomerAccount,
    Manufacturer,
    MatchOutcome,
    Material,
    Order,
    Process,
)
from marketplace.scoring import STRATEGIES
from marketplace.selectors import catalog_invalidate
from marketplace.simulation import History, World
from marketplace.truth.models import CustomerTruthRecord, OrderTruth, SimulatedManufacturer, SimulatedWorld
from marketplace.vocabulary import FACTORS, REGIONS
from personalization.models import Interaction, RecommendationSession, SessionOutcome

REGION_CODES = tuple(REGIONS)

T = TypeVar("T")
BATCH = 500
Progress = Callable[[str, int], None]  # (stage, rows just written)


def _batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def world_user_prefix(seed: int) -> str:
    return f"sim{seed}-"


def money(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


@transaction.atomic
def world_load(
    *, world: World, history: History, start: datetime, progress: Progress = lambda stage, n: None
) -> SimulatedWorld:
    config = world.config
    stats = _summary(history)
    record = SimulatedWorld.objects.create(seed=config.seed, config=asdict(config), start=start, summary=stats)

    manufacturer_ids = _load_manufacturers(world, record, progress)
    customer_ids = _load_customers(world, record, start, history, progress)
    _load_history(world, history, record, start, manufacturer_ids, customer_ids, progress)
    transaction.on_commit(catalog_invalidate)
    return record


@transaction.atomic
def world_delete(*, world: SimulatedWorld) -> None:
    """Remove a simulated world: its customers (with their orders, outcomes and sessions), its manufacturers."""
    customer_users = CustomerAccount.objects.filter(pk__in=world.customers.values("customer_id")).values("user_id")
    get_user_model().objects.filter(pk__in=customer_users).delete()
    Manufacturer.objects.filter(pk__in=world.manufacturers.values("manufacturer_id")).delete()
    world.delete()


def _load_manufacturers(world: World, record: SimulatedWorld, progress: Progress) -> list[int]:
    processes = {p.code: p for p in Process.objects.all()}
    materials = {m.code: m for m in Material.objects.all()}
    certifications = {c.code: c for c in Certification.objects.all()}
    ids: list[int] = []
    for batch in _batches(world.manufacturers):
        rows = Manufacturer.objects.bulk_create(
            [
                Manufacturer(
                    name=p.name,
                    country=p.country,
                    region=p.region,
                    latitude=p.latitude,
                    longitude=p.longitude,
                    monthly_capacity=p.monthly_capacity,
                    current_load=p.current_load,
                    min_order_value=money(p.min_order_value),
                    cost_index=p.cost_index,
                    quality_score=p.quality_score,
                    avg_lead_time_days=p.avg_lead_time_days,
                    on_time_delivery_rate=p.on_time_delivery_rate,
                    completed_orders=p.completed_orders,
                    is_active=p.is_active,
                )
                for p in batch
            ]
        )
        links = {"processes": [], "materials": [], "certifications": []}
        for row, profile in zip(rows, batch):
            links["processes"] += [
                Manufacturer.processes.through(manufacturer_id=row.pk, process=processes[c]) for c in profile.processes
            ]
            links["materials"] += [
                Manufacturer.materials.through(manufacturer_id=row.pk, material=materials[c]) for c in profile.materials
            ]
            links["certifications"] += [
                Manufacturer.certifications.through(manufacturer_id=row.pk, certification=certifications[c])
                for c in profile.certifications
            ]
        for name, through_rows in links.items():
            getattr(Manufacturer, name).through.objects.bulk_create(through_rows)
        ids += [row.pk for row in rows]
        progress("manufacturers", len(rows))
    SimulatedManufacturer.objects.bulk_create(
        [SimulatedManufacturer(world=record, index=i, manufacturer_id=m) for i, m in enumerate(ids)], batch_size=BATCH
    )
    return ids


def _load_customers(
    world: World, record: SimulatedWorld, start: datetime, history: History, progress: Progress
) -> list[int]:
    User = get_user_model()
    prefix = world_user_prefix(world.config.seed)
    unusable = make_password(None)
    ids: list[int] = []
    for offset, batch in zip(range(0, len(world.customers), BATCH), _batches(world.customers)):
        users = User.objects.bulk_create(
            [
                User(
                    username=f"{prefix}{offset + i + 1:05d}",
                    email=f"buyer{offset + i + 1}@sim{world.config.seed}.example",
                    password=unusable,
                    date_joined=start,
                )
                for i in range(len(batch))
            ]
        )
        accounts = CustomerAccount.objects.bulk_create(
            [
                CustomerAccount(
                    user=user,
                    company_name=c.company_name,
                    industry=c.industry,
                    company_size=c.company_size,
                    region=c.region,
                    segment=c.segment,
                    created_at=start,
                )
                for user, c in zip(users, batch)
            ]
        )
        CustomerTruthRecord.objects.bulk_create(
            [
                CustomerTruthRecord(
                    world=record,
                    index=offset + i,
                    customer=account,
                    true_weights=dict(zip(FACTORS, c.true_weights)),
                    region_affinity=dict(zip(REGIONS, c.region_affinity)),
                    utility_scale=c.utility_scale,
                    walk_away_threshold=c.walk_away_threshold,
                    price_sensitivity=c.price_sensitivity,
                    quality_sensitivity=c.quality_sensitivity,
                    order_rate=c.order_rate,
                    base_churn_hazard=c.base_churn_hazard,
                    churned_at=None
                    if history.churn_day[offset + i] is None
                    else start + timedelta(days=history.churn_day[offset + i]),
                )
                for i, (account, c) in enumerate(zip(accounts, batch))
            ]
        )
        ids += [account.pk for account in accounts]
        progress("customers", len(accounts))
    return ids


def _load_history(
    world: World,
    history: History,
    record: SimulatedWorld,
    start: datetime,
    manufacturer_ids: list[int],
    customer_ids: list[int],
    progress: Progress,
) -> None:
    end = start + timedelta(days=world.config.days)
    for batch in _batches(history.orders):
        orders, outcomes, sessions, truths, interactions, session_outcomes = [], [], [], [], [], []
        for sim in batch:
            created = start + timedelta(days=sim.day)
            r = sim.response
            order = Order(
                customer_id=customer_ids[sim.customer],
                process_id=sim.order.process,
                material_id=sim.order.material,
                quantity=sim.order.quantity,
                complexity_level=sim.order.complexity_level,
                estimated_value=money(sim.order.estimated_value),
                quality_requirements=sim.order.quality_requirements,
                timeline_urgency=sim.order.timeline_urgency,
                delivery_region=sim.order.delivery_region,
                created_at=created,
            )
            if r.chosen_position is None or not r.converted:
                order.status = Order.Status.CANCELLED
                order.cancelled_at = created + timedelta(hours=r.time_to_match_hours or 48.0)
            else:
                row = sim.shown[r.chosen_position]
                order.matched_at = created + timedelta(hours=r.time_to_match_hours)
                order.production_started_at = order.matched_at
                delivery = order.matched_at + timedelta(days=float(world.catalog.lead_time_days[row]))
                if delivery <= end:
                    order.status = Order.Status.DELIVERED
                    order.delivered_at = delivery
                else:
                    order.status = Order.Status.IN_PRODUCTION
            orders.append(order)
        Order.objects.bulk_create(orders)

        for sim, order in zip(batch, orders):
            r = sim.response
            sessions.append(
                RecommendationSession(
                    customer_id=order.customer_id,
                    order=order,
                    order_context=asdict(sim.order),
                    optimization_goal="balanced",
                    algorithm_used=sim.strategy,
                    optimization_reasoning="Historical platform ranking: a base strategy drawn uniformly at random.",
                    weights=dict(zip(FACTORS, STRATEGIES[sim.strategy].tolist())),
                    weights_version=f"base:{sim.strategy}",
                    propensity=sim.propensity,
                    candidates=[
                        {
                            "manufacturer_id": manufacturer_ids[row],
                            "rank": rank + 1,
                            "score": score,
                            "region": REGION_CODES[int(world.catalog.region[row])],
                            "features": dict(zip(FACTORS, features)),
                        }
                        for rank, (row, score, features) in enumerate(
                            zip(sim.shown, sim.shown_scores, sim.shown_features)
                        )
                    ],
                    eligible_count=sim.eligible_count,
                    source=RecommendationSession.Source.SIMULATION,
                    created_at=order.created_at,
                )
            )
            if r.chosen_position is not None:
                delivered = order.status == Order.Status.DELIVERED
                session = sessions[-1]
                chosen_id = manufacturer_ids[sim.shown[r.chosen_position]]
                interactions.append(
                    Interaction(
                        customer_id=order.customer_id,
                        session=session,
                        event_id=f"simulated-{session.id}",
                        interaction_data={"time_to_decision_seconds": round(r.time_to_match_hours * 3600, 1)},
                        choice_data={"chosen_manufacturer_id": chosen_id, "chosen_rank": r.chosen_position + 1},
                        chosen_manufacturer_id=chosen_id,
                        chosen_rank=r.chosen_position + 1,
                        time_to_decision_seconds=round(r.time_to_match_hours * 3600, 1),
                        source=RecommendationSession.Source.SIMULATION,
                        created_at=order.matched_at or order.cancelled_at,
                    )
                )
                session_outcomes.append(
                    SessionOutcome(
                        session=session,
                        manufacturer_id=chosen_id,
                        converted=bool(r.converted),
                        contract_value=money(r.contract_value) if r.converted else None,
                        satisfaction=r.satisfaction if delivered else None,
                        delivered_on_time=r.delivered_on_time if delivered else None,
                        converted_at=order.matched_at if r.converted else None,
                    )
                )
                outcomes.append(
                    MatchOutcome(
                        order=order,
                        manufacturer_id=manufacturer_ids[sim.shown[r.chosen_position]],
                        converted=bool(r.converted),
                        contract_value=money(r.contract_value) if r.converted else None,
                        satisfaction=r.satisfaction if delivered else None,
                        delivered_on_time=r.delivered_on_time if delivered else None,
                        time_to_match=timedelta(hours=r.time_to_match_hours),
                        created_at=order.matched_at or order.cancelled_at,
                    )
                )
            truths.append(
                OrderTruth(
                    world=record,
                    order=order,
                    choice_probabilities=list(r.choice_probabilities),
                    p_convert=r.p_convert,
                    p_on_time=r.p_on_time,
                    expected_satisfaction=r.expected_satisfaction,
                    bad_experience_score=sim.bad_experience_score,
                )
            )
        RecommendationSession.objects.bulk_create(sessions)
        Interaction.objects.bulk_create(interactions)
        SessionOutcome.objects.bulk_create(session_outcomes)
        MatchOutcome.objects.bulk_create(outcomes)
        OrderTruth.objects.bulk_create(truths)
        progress("orders", len(batch))


def _summary(history: History) -> dict:
    responses = [o.response for o in history.orders]
    chosen = [r for r in responses if r.chosen_position is not None]
    converted = [r for r in chosen if r.converted]
    n = max(len(responses), 1)
    return {
        "orders": len(responses),
        "choice_rate": round(len(chosen) / n, 4),
        "conversion_rate": round(len(converted) / n, 4),
        "mean_satisfaction": round(sum(r.satisfaction for r in converted) / max(len(converted), 1), 3),
        "churned_customers": sum(day is not None for day in history.churn_day),
    }
