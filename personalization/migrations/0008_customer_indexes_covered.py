"""Drop the single-column customer indexes of sessions and interactions: the index on (customer, -created_at)
of sessions and the unique index on (customer, event_id) of interactions lead with the customer and serve every
lookup by it, so the other index was one more write on every recommendation and every feedback.

Only the indexes go: Django's own AlterField would also drop and re-add the foreign keys, which re-checks every
row of the two largest tables under lock."""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {  # Django's names, the same on every backend
    "personalization_interaction_customer_id_8dc25dd1": ("personalization_interaction", "customer_id"),
    "personalization_recommendationsession_customer_id_bb9107c3": (
        "personalization_recommendationsession",
        "customer_id",
    ),
}


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0003_outcome_converted_needs_contract_value"),
        ("personalization", "0007_precision_as_upper_triangle"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, (table, column) in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="interaction",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="interactions",
                        to="marketplace.customeraccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="recommendationsession",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="recommendation_sessions",
                        to="marketplace.customeraccount",
                    ),
                ),
            ],
        ),
    ]
