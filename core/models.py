from django.db import models
from django.utils import timezone


class TimeStampedModel(models.Model):
    """Created and updated times. `created_at` has a default, not auto_now_add, so history can be loaded."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """The last time a periodic job ran: Celery beat and a worker prove they are alive through it."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
