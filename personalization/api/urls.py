from django.urls import path

from personalization.api.views import PersonalizedRecommendationsApi

urlpatterns = [
    path("recommendations/personalized", PersonalizedRecommendationsApi.as_view(), name="recommendations-personalized"),
]
