"""Reads of the marketplace, and the glue from rows to the scoring catalog's arrays."""

from __future__ import annotations

import threading
import time

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, QuerySet

from marketplace.models import CustomerAccount, Manufacturer, Order
from marketplace.scoring import CERTIFICATION_INDEX, MATERIAL_INDEX, PROCESS_INDEX, REGION_INDEX, Catalog
from marketplace.vocabulary import CERTIFICATIONS, MATERIALS, PROCESSES


def manufacturer_list(
    *,
    include_inactive: bool = False,
    process: str | None = None,
    region: str | None = None,
    certification: str | None = None,
) -> QuerySet[Manufacturer]:
    queryset = Manufacturer.objects.prefetch_related("processes", "materials", "certifications")
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    if process:
        queryset = queryset.filter(processes__code=process)
    if certification:
        queryset = queryset.filter(certifications__code=certification)
    if region:
        queryset = queryset.filter(region=region)
    return queryset.distinct() if process or certification else queryset


def order_list(*, customer: CustomerAccount | None) -> QuerySet[Order]:
    """The orders a caller may read: its own, or all of them (customer=None, for staff)."""
    queryset = Order.objects.select_related("customer", "process", "material")
    return queryset if customer is None else queryset.filter(customer=customer)


def customer_account_get(*, user) -> CustomerAccount | None:
    try:
        return user.customer_account
    except CustomerAccount.DoesNotExist:
        return None


def catalog_version() -> str:
    """Changes whenever a manufacturer is added, removed or saved (services and the admin save on every edit)."""
    summary = Manufacturer.objects.aggregate(count=Count("id"), latest=Max("updated_at"))
    latest = summary["latest"].isoformat() if summary["latest"] else "-"
    return f"{summary['count']}@{latest}"


def catalog_build(*, version: str = "") -> Catalog:
    """All manufacturers as scoring arrays: one query for the columns, one per capability table."""
    fields = (
        "id",
        "name",
        "country",
        "region",
        "latitude",
        "longitude",
        "monthly_capacity",
        "current_load",
        "min_order_value",
        "cost_index",
        "quality_score",
        "avg_lead_time_days",
        "on_time_delivery_rate",
        "is_active",
        "completed_orders",
    )
    rows = list(Manufacturer.objects.order_by("id").values_list(*fields))
    n = len(rows)
    columns = list(zip(*rows)) if rows else [()] * len(fields)
    data = dict(zip(fields, columns))
    ids = np.asarray(data["id"], dtype=np.int64)
    position = {int(m): i for i, m in enumerate(ids)}

    def mask(through, column: str, index: dict[str, int], size: int) -> np.ndarray:
        out = np.zeros((n, size), dtype=bool)
        for manufacturer_id, code in through.objects.values_list("manufacturer_id", column):
            row = position.get(manufacturer_id)
            if row is not None and code in index:
                out[row, index[code]] = True
        return out

    def floats(name: str) -> np.ndarray:
        return np.asarray(data[name], dtype=float)

    return Catalog(
        ids=ids,
        names=tuple(data["name"]),
        region=np.asarray([REGION_INDEX[r] for r in data["region"]], dtype=np.int64),
        latitude=floats("latitude"),
        longitude=floats("longitude"),
        process_mask=mask(Manufacturer.processes.through, "process_id", PROCESS_INDEX, len(PROCESSES)),
        material_mask=mask(Manufacturer.materials.through, "material_id", MATERIAL_INDEX, len(MATERIALS)),
        certification_mask=mask(
            Manufacturer.certifications.through, "certification_id", CERTIFICATION_INDEX, len(CERTIFICATIONS)
        ),
        monthly_capacity=floats("monthly_capacity"),
        current_load=floats("current_load"),
        min_order_value=floats("min_order_value"),
        cost_index=floats("cost_index"),
        quality_score=floats("quality_score"),
        lead_time_days=floats("avg_lead_time_days"),
        on_time_rate=floats("on_time_delivery_rate"),
        active=np.asarray(data["is_active"], dtype=bool),
        countries=tuple(data["country"]),
        completed_orders=floats("completed_orders"),
        version=version,
        position=position,
    )


class _CatalogCache:
    """The catalog of this process, rebuilt when `catalog_version()` changes.

    The version is checked at most every CATALOG_VERSION_CHECK_SECONDS (a cheap aggregate query), so an edit
    made by another process shows within that time; `catalog_invalidate()` makes this process see its own
    writes at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._checked_at = float("-inf")

    def get(self) -> Catalog:
        catalog = self._catalog
        if catalog is not None and time.monotonic() - self._checked_at < settings.CATALOG_VERSION_CHECK_SECONDS:
            return catalog
        version = catalog_version()
        with self._lock:
            if self._catalog is None or self._catalog.version != version:
                self._catalog = catalog_build(version=version)
            self._checked_at = time.monotonic()
            return self._catalog

    def clear(self) -> None:
        with self._lock:
            self._catalog = None
            self._checked_at = float("-inf")


_catalog_cache = _CatalogCache()


def catalog_get() -> Catalog:
    return _catalog_cache.get()


def catalog_invalidate() -> None:
    """Forget this process's catalog: call after writing manufacturers (services do, after commit)."""
    _catalog_cache.clear()
