"""Every lookup of sessions and interactions by customer is served by an index that leads with the customer,
and no second, single-column index doubles it (migration 0008)."""

import pytest
from django.db import connection

from personalization.models import Interaction, RecommendationSession


@pytest.mark.django_db
@pytest.mark.parametrize("model", [RecommendationSession, Interaction])
def test_one_index_leads_with_the_customer(model):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    leading = {
        name for name, c in constraints.items() if (c["index"] or c["unique"]) and c["columns"][:1] == ["customer_id"]
    }

    assert len(leading) == 1, leading
    assert len(constraints[leading.pop()]["columns"]) == 2  # (customer, -created_at) or (customer, event_id)
