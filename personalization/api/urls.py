from django.urls import path

from personalization.api.insights import InsightsApi, ProfilePersonalApi
from personalization.api.views import OutcomeApi, PersonalizedRecommendationsApi, ProfileUpdateApi

urlpatterns = [
    path("recommendations/personalized", PersonalizedRecommendationsApi.as_view(), name="recommendations-personalized"),
    path("profile/update", ProfileUpdateApi.as_view(), name="profile-update"),
    path("outcomes", OutcomeApi.as_view(), name="outcomes"),
    path("profile/personal", ProfilePersonalApi.as_view(), name="profile-personal"),
    path("insights", InsightsApi.as_view(), name="insights"),
]
