"""Token authentication: django-rest-knox's, without its sweep of the user's other tokens on every request.

knox's `TokenAuthentication` reads all of a user's tokens on each authenticated request, to delete the expired
ones: one more query per API call, for housekeeping. Here a request checks only its own token (an expired
one is still refused, deleted and signalled, exactly as knox does), and beat deletes the expired tokens of
everyone once a day (`core.services.expired_tokens_delete`).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired


class TokenAuthentication(KnoxTokenAuthentication):
    def _cleanup_token(self, auth_token) -> bool:
        """True (and the token deleted) when this request's token has expired."""
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of this authentication: knox's bearer token."""

    target_class = "core.api.authentication.TokenAuthentication"
