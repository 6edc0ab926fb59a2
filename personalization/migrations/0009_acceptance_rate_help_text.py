"""The stored acceptance rate's help text: it is beat's, refreshed hourly, no longer kept by every choice. No SQL."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('personalization', '0008_customer_indexes_covered'),
    ]

    operations = [
        migrations.AlterField(
            model_name='customerpersonalizationprofile',
            name='recommendation_acceptance_rate',
            field=models.FloatField(default=0.0, help_text="Sessions with a choice over all sessions, as of beat's last refresh (hourly by default)"),
        ),
    ]
