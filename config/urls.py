from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/", include("marketplace.api.urls")),
    path("api/v1/advanced-personalization/", include("personalization.api.urls")),
    path("api/v1/advanced-personalization/", include("experiments.api.urls")),
    path("api/v1/advanced-personalization/", include("predictions.api.urls")),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
