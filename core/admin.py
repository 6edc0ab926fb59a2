from django.contrib import admin

from core.models import Heartbeat

admin.site.site_header = "Personalization engine"
admin.site.site_title = "Personalization engine"
admin.site.index_title = "Marketplace, personalization and experiments"


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "beat_at")
    readonly_fields = ("name", "beat_at")
