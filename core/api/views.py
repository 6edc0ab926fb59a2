from django.contrib.auth import authenticate
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import ErrorSerializer, StrictSerializer
from core.errors import DomainError


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token (sent as `Authorization: Token <token>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class TokenInputSerializer(StrictSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})

    class TokenOutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expiry = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        request=TokenInputSerializer,
        responses={201: TokenOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            raise DomainError("Unable to log in with these credentials.", field="password")
        limit = knox_settings.TOKEN_LIMIT_PER_USER
        live = AuthToken.objects.filter(Q(expiry__gt=timezone.now()) | Q(expiry__isnull=True), user=user)
        if limit is not None and live.count() >= limit:
            raise PermissionDenied("Too many active tokens for this user: log out of another session first.")
        instance, token = AuthToken.objects.create(user)
        return Response(
            self.TokenOutputSerializer({"token": token, "expiry": instance.expiry}).data, status=status.HTTP_201_CREATED
        )


class TokenDestroyApi(APIView):
    """Revoke the token of this request."""

    @extend_schema(request=None, responses={204: None, 401: ErrorSerializer})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    """Who the caller is: the trivial authenticated endpoint."""

    class MeOutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        is_staff = serializers.BooleanField()

    @extend_schema(responses={200: MeOutputSerializer, 401: ErrorSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.MeOutputSerializer(request.user).data)
