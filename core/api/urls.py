from django.urls import path

from core.api.views import MeApi, TokenCreateApi, TokenDestroyApi

urlpatterns = [
    path("auth/token", TokenCreateApi.as_view(), name="auth-token"),
    path("auth/logout", TokenDestroyApi.as_view(), name="auth-logout"),
    path("auth/me", MeApi.as_view(), name="auth-me"),
]
