from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import ErrorSerializer
from marketplace.scoring import OrderContext
from marketplace.selectors import customer_account_get
from personalization.api.serializers import (
    RecommendationRequestSerializer,
    RecommendationResponseSerializer,
    recommendation_response_data,
)
from personalization.services import (
    Preferences,
    customer_order_get,
    order_context_from_order,
    recommendation_create,
)


class PersonalizedRecommendationsApi(APIView):
    """Ranked manufacturers for an order, each explained by its factor contributions.

    Every response is stored as a recommendation session; its `session_id` joins later feedback."""

    @extend_schema(
        request=RecommendationRequestSerializer,
        responses={
            200: RecommendationResponseSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        customer = customer_account_get(user=request.user)
        if customer is None:
            raise PermissionDenied("Only customer accounts receive recommendations.")
        data = RecommendationRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        order = None
        if "order_id" in params:
            order = customer_order_get(customer=customer, order_id=params["order_id"])
            context = order_context_from_order(order)
        else:
            raw = dict(params["order_context"])
            context = OrderContext(delivery_region=raw.pop("region"), **raw)
        preferences = params.get("customer_preferences", {})
        result = recommendation_create(
            customer=customer,
            order_context=context,
            order=order,
            preferences=Preferences(
                required_certifications=tuple(preferences.get("required_certifications", ())),
                excluded_manufacturer_ids=tuple(preferences.get("excluded_manufacturer_ids", ())),
                max_lead_time_days=preferences.get("max_lead_time_days"),
                factor_importance=dict(preferences.get("factor_importance", {})),
            ),
            optimization_goal=params["optimization_goal"],
            limit=params["limit"],
            use_ab_testing=params["use_ab_testing"],
        )
        return Response(recommendation_response_data(result))
