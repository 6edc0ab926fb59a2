from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.api.exception_handler import error_body
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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception):
    """handler404: under /api/ the API's error shape in JSON, elsewhere Django's page."""
    if _is_api(request):
        return JsonResponse(error_body("Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: under /api/ the API's error shape in JSON, elsewhere Django's page."""
    if _is_api(request):
        return JsonResponse(error_body("Server error."), status=500)
    return defaults.server_error(request)
