from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsStaff
from core.api.serializers import ErrorSerializer
from marketplace.scoring import OrderContext
from marketplace.selectors import customer_account_get
from personalization.api.serializers import (
    OutcomeRequestSerializer,
    OutcomeResponseSerializer,
    ProfileUpdateRequestSerializer,
    ProfileUpdateResponseSerializer,
    RecommendationRequestSerializer,
    RecommendationResponseSerializer,
    profile_update_response_data,
    recommendation_response_data,
)
from personalization.models import RecommendationSession
from personalization.selectors import customer_with_profile_get, session_get
from personalization.services import (
    Preferences,
    customer_order_get,
    order_context_from_order,
    profile_apply_user_feedback,
    recommendation_create,
    session_outcome_record,
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
        customer, profile = customer_with_profile_get(user=request.user)
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
            profile=profile,
        )
        return Response(recommendation_response_data(result))


def _session_or_404(session_id) -> RecommendationSession:
    """The session by id, or a 404."""
    session = session_get(session_id=session_id)
    if session is None:
        raise NotFound("No such session.")
    return session


class ProfileUpdateApi(APIView):
    """Feedback on a recommendation session: what was viewed and chosen. The personal weights learn from it.

    Idempotent by `event_id`: a repeat returns the first result with `duplicate: true` and changes nothing."""

    @extend_schema(
        request=ProfileUpdateRequestSerializer,
        responses={
            200: ProfileUpdateResponseSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = ProfileUpdateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        result = profile_apply_user_feedback(
            user=request.user,
            session_id=params["session_id"],
            event_id=params["event_id"],
            interaction_data=dict(params.get("interaction_data") or {}),
            choice_data=dict(params["choice_data"]) if params.get("choice_data") else None,
        )
        if result is None:  # only when the session is not found does it matter why
            if customer_account_get(user=request.user) is None:
                raise PermissionDenied("Only customer accounts have a profile.")
            raise NotFound("No such session.")
        return Response(profile_update_response_data(result))


class OutcomeApi(APIView):
    """The platform reports what came of a session: conversion with contract value, then the rating (1-5)
    and on-time delivery. Each fact once; idempotent by `event_id`. Staff only."""

    permission_classes = [IsStaff]

    @extend_schema(
        request=OutcomeRequestSerializer,
        responses={
            200: OutcomeResponseSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = OutcomeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        session = _session_or_404(params["session_id"])
        result = session_outcome_record(
            session=session,
            event_id=params["event_id"],
            manufacturer_id=params["manufacturer_id"],
            converted=params["converted"],
            contract_value=params["contract_value"],
            satisfaction=params["satisfaction"],
            delivered_on_time=params["delivered_on_time"],
        )
        outcome = result.outcome
        body = {
            "event_id": result.event.event_id,
            "duplicate": result.duplicate,
            "session_id": outcome.session_id,
            "manufacturer_id": outcome.manufacturer_id,
            "converted": outcome.converted,
            "contract_value": outcome.contract_value,
            "satisfaction": outcome.satisfaction,
            "delivered_on_time": outcome.delivered_on_time,
            "update": result.event.update_summary,
        }
        return Response(OutcomeResponseSerializer(body).data)
