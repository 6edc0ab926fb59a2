from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.health import system_status


@never_cache
@require_GET
def healthz(request):
    """200 when the database, Redis (if configured) and Celery are healthy; 503 otherwise."""
    components = system_status()
    healthy = all(component.ok for component in components)
    body = {
        "status": "ok" if healthy else "unavailable",
        "components": {c.name: {"ok": c.ok, "detail": c.detail} for c in components},
    }
    return JsonResponse(body, status=200 if healthy else 503)
