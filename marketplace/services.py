"""Writes of the marketplace: validated, atomic."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from marketplace.models import Certification, CustomerAccount, Manufacturer, Material, Order, OrderStatus, Process
from marketplace.selectors import catalog_invalidate
from marketplace.vocabulary import CERTIFICATIONS, MATERIALS, PROCESS_MATERIALS, PROCESSES

MANUFACTURER_RELATIONS = ("processes", "materials", "certifications")

# The order lifecycle: which status may follow which, and the timestamp each transition sets.
ORDER_TRANSITIONS: dict[str, tuple[str, ...]] = {
    OrderStatus.OPEN: (OrderStatus.MATCHED, OrderStatus.CANCELLED),
    OrderStatus.MATCHED: (OrderStatus.IN_PRODUCTION, OrderStatus.CANCELLED, OrderStatus.OPEN),
    OrderStatus.IN_PRODUCTION: (OrderStatus.DELIVERED, OrderStatus.CANCELLED),
    OrderStatus.DELIVERED: (),
    OrderStatus.CANCELLED: (),
}
STATUS_TIMESTAMP = {
    OrderStatus.MATCHED: "matched_at",
    OrderStatus.IN_PRODUCTION: "production_started_at",
    OrderStatus.DELIVERED: "delivered_at",
    OrderStatus.CANCELLED: "cancelled_at",
}


def _manufacturer_relations_set(manufacturer: Manufacturer, relations: dict[str, list[str]]) -> None:
    """Set processes, materials and certifications; every material must be worked by one of the processes."""
    for name, values in relations.items():
        getattr(manufacturer, name).set(values)
    processes = sorted(manufacturer.processes.values_list("code", flat=True))
    unworkable = sorted(manufacturer.materials.exclude(processes__code__in=processes).values_list("code", flat=True))
    if unworkable:
        raise DomainError(
            f"No process of this manufacturer works {', '.join(unworkable)}.",
            extra={"processes": processes},
            field="materials",
        )


@transaction.atomic
def manufacturer_create(*, data: dict[str, Any]) -> Manufacturer:
    relations = {name: data.pop(name) for name in MANUFACTURER_RELATIONS if name in data}
    manufacturer = Manufacturer(**data)
    manufacturer.full_clean()
    manufacturer.save()
    _manufacturer_relations_set(manufacturer, relations)
    transaction.on_commit(catalog_invalidate)
    return manufacturer


@transaction.atomic
def manufacturer_update(*, manufacturer: Manufacturer, data: dict[str, Any]) -> Manufacturer:
    relations = {name: data.pop(name) for name in MANUFACTURER_RELATIONS if name in data}
    for field, value in data.items():
        setattr(manufacturer, field, value)
    manufacturer.full_clean()
    manufacturer.save()  # always saved, so that updated_at (and with it the catalog version) moves
    _manufacturer_relations_set(manufacturer, relations)
    transaction.on_commit(catalog_invalidate)
    return manufacturer


@transaction.atomic
def manufacturer_deactivate(*, manufacturer: Manufacturer) -> Manufacturer:
    """Manufacturers are never deleted (their outcomes are history); they stop being recommended."""
    manufacturer.is_active = False
    manufacturer.save(update_fields=["is_active", "updated_at"])
    transaction.on_commit(catalog_invalidate)
    return manufacturer


@transaction.atomic
def order_create(*, customer: CustomerAccount, data: dict[str, Any]) -> Order:
    order = Order(customer=customer, **data)
    order.full_clean()
    order.save()
    return order


@transaction.atomic
def order_transition(*, order: Order, to_status: str) -> Order:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if to_status not in ORDER_TRANSITIONS:
        raise DomainError(f"Unknown order status {to_status!r}.", field="status")
    if to_status not in ORDER_TRANSITIONS[order.status]:
        raise DomainError(
            f"An order that is {order.status} cannot become {to_status}.",
            extra={"status": order.status, "allowed": list(ORDER_TRANSITIONS[order.status])},
            field="status",
        )
    order.status = to_status
    fields = ["status", "updated_at"]
    if to_status == OrderStatus.OPEN:  # back on the market: the earlier match no longer holds
        order.matched_at = None
        fields.append("matched_at")
    if to_status in STATUS_TIMESTAMP:
        setattr(order, STATUS_TIMESTAMP[to_status], timezone.now())
        fields.append(STATUS_TIMESTAMP[to_status])
    order.save(update_fields=fields)
    return order


@transaction.atomic
def reference_data_ensure() -> None:
    """The capability vocabulary of marketplace/vocabulary.py in its tables (what migration 0002 seeds).
    Idempotent; for databases emptied by a flush, such as after a transactional test."""
    for code, name in PROCESSES.items():
        Process.objects.update_or_create(code=code, defaults={"name": name})
    for code, name in CERTIFICATIONS.items():
        Certification.objects.update_or_create(code=code, defaults={"name": name})
    for code, name in MATERIALS.items():
        material, _ = Material.objects.update_or_create(code=code, defaults={"name": name})
        material.processes.set([p for p, materials in PROCESS_MATERIALS.items() if code in materials])
