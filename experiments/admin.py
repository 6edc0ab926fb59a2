from django.contrib import admin, messages

from core.errors import DomainError
from experiments.models import ABTestExperiment, Variant
from experiments.services import experiment_pause, experiment_start, experiment_stop

COUNTERS = ("participants", "conversions", "revenue_sum", "revenue_sum_squares")


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ("position", "key", "name", "is_control", "weight", "config", *COUNTERS)
    readonly_fields = COUNTERS

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # variants are created with their experiment, through the service that validates them

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _lifecycle(service, description: str):
    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        for experiment in queryset:
            try:
                service(experiment=experiment, reason=f"{description.lower()} by {request.user}")
            except DomainError as error:
                modeladmin.message_user(request, f"{experiment}: {error}", level=messages.ERROR)

    action.__name__ = service.__name__
    return action


@admin.register(ABTestExperiment)
class ABTestExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "experiment_type", "status", "coverage", "participants", "conversions", "start_date")
    list_filter = ("status", "experiment_type")
    search_fields = ("name", "description")
    readonly_fields = (
        "status",
        "status_reason",
        "seed",
        "start_date",
        "actual_end_date",
        "analysis",
        "created_by",
        "created_at",
        "updated_at",
    )
    inlines = [VariantInline]
    actions = [
        _lifecycle(experiment_start, "Start"),
        _lifecycle(experiment_pause, "Pause"),
        _lifecycle(experiment_stop, "Stop"),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("variants")

    @admin.display(description="participants")
    def participants(self, experiment: ABTestExperiment) -> int:
        return sum(v.participants for v in experiment.variants.all())

    @admin.display(description="conversions")
    def conversions(self, experiment: ABTestExperiment) -> int:
        return sum(v.conversions for v in experiment.variants.all())

    def has_add_permission(self, request) -> bool:
        return False  # created by experiments.services.experiment_create, which validates every variant

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only: the lifecycle actions above are the way to change an experiment
