from django.urls import path

from predictions.api.views import ModelPerformanceApi, ModelTrainApi, PredictionApi

urlpatterns = [
    path("predictions", PredictionApi.as_view(), name="predictions"),
    path("models/performance", ModelPerformanceApi.as_view(), name="models-performance"),
    path("models/train", ModelTrainApi.as_view(), name="models-train"),
]
