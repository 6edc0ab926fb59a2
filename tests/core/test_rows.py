"""core.rows: instances from hand-written SQL rows, and INSERTs written once, against the ORM's own."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from core.rows import insert_row, instance_from_row, select_list
from personalization.models import RecommendationSession
from personalization.services import recommendation_create
from tests.api_helpers import ORDER
from tests.factories import ManufacturerFactory


def logged_session(customer) -> RecommendationSession:
    ManufacturerFactory.create_batch(3)
    return recommendation_create(customer=customer, order_context=ORDER).session


def field_values(row: RecommendationSession) -> dict:
    return {f.attname: getattr(row, f.attname) for f in RecommendationSession._meta.concrete_fields}


@pytest.mark.django_db
def test_insert_row_stores_what_the_orms_save_stores(customer):
    logged = logged_session(customer)
    by_orm, by_insert_row = (RecommendationSession.objects.get(pk=logged.pk) for _ in range(2))
    for row in (by_orm, by_insert_row):
        row.id = uuid.uuid4()
        row.optimization_reasoning = "Written by the test."
        row.candidates = [*row.candidates, {"manufacturer_id": 1, "features": {"quality": 0.5}}]
    intended = field_values(by_insert_row)

    by_orm.save(force_insert=True)
    insert_row(by_insert_row)

    assert not by_insert_row._state.adding
    assert field_values(RecommendationSession.objects.get(pk=by_insert_row.id)) == intended
    stored = {
        row.id: field_values(row) for row in RecommendationSession.objects.filter(pk__in=[by_orm.id, by_insert_row.id])
    }
    assert stored[by_insert_row.id] == stored[by_orm.id] | {"id": by_insert_row.id}


@pytest.mark.django_db
def test_insert_row_refuses_a_repeated_key_and_writes_nothing(customer):
    original = logged_session(customer)
    copy = RecommendationSession.objects.get(pk=original.pk)
    copy.personal_confidence = 0.9

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(copy)

    assert RecommendationSession.objects.count() == 1
    assert RecommendationSession.objects.get().personal_confidence == original.personal_confidence


@pytest.mark.django_db
def test_instance_from_row_converts_as_the_orm_and_defers_the_rest(customer):
    session = logged_session(customer)
    names = ("id", "candidates", "created_at", "order_context")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select_list('s', RecommendationSession, names)} FROM personalization_recommendationsession AS s"
        )
        row = cursor.fetchone()

    read = instance_from_row(RecommendationSession, names, row)

    by_orm = RecommendationSession.objects.get(pk=session.pk)
    assert (read.id, read.candidates, read.created_at, read.order_context) == (
        by_orm.id,
        by_orm.candidates,
        by_orm.created_at,
        by_orm.order_context,
    )
    assert read.get_deferred_fields() == {f.attname for f in RecommendationSession._meta.concrete_fields} - set(names)
