from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.periodic import periodic_task_specs


class Command(BaseCommand):
    help = "Declare the periodic tasks of core/periodic.py in django-celery-beat. Safe to run twice."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        for spec in periodic_task_specs():
            schedule, _ = IntervalSchedule.objects.get_or_create(
                every=spec.every_seconds, period=IntervalSchedule.SECONDS
            )
            _, created = PeriodicTask.objects.update_or_create(
                name=spec.name,
                defaults={
                    "task": spec.task,
                    "interval": schedule,
                    "crontab": None,
                    "enabled": True,
                    "description": spec.description,
                },
            )
            self.stdout.write(
                f"{'created' if created else 'updated'} periodic task: {spec.name} every {spec.every_seconds}s"
            )
