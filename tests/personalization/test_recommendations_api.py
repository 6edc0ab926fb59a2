import pytest

from tests.factories import ManufacturerFactory

URL = "/api/v1/advanced-personalization/recommendations/personalized"

ORDER_CONTEXT = {
    "process": "cnc_machining",
    "quantity": 100,
    "complexity_level": "complex",
    "estimated_value": 12000,
    "quality_requirements": 0.8,
    "timeline_urgency": 0.5,
    "region": "western_europe",
}


@pytest.mark.django_db
def test_recommendations_rank_capable_manufacturers_and_explain_each(api_client):
    best = ManufacturerFactory(quality_score=0.95, on_time_delivery_rate=0.98)
    ManufacturerFactory(quality_score=0.5)
    ManufacturerFactory(processes=["casting"], materials=["aluminium"])  # not capable

    response = api_client.post(URL, {"order_context": ORDER_CONTEXT, "optimization_goal": "quality"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert [r["rank"] for r in body["recommendations"]] == [1, 2]
    assert body["recommendations"][0]["manufacturer"]["id"] == best.id
    assert body["personalization_metadata"]["algorithm_used"] == "quality_focused"
    assert body["session_id"]
