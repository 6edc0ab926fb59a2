"""Token authentication: django-rest-knox's, without its sweep of the user's other tokens on every request,
and with its token lookup written once per process.

knox's `TokenAuthentication` reads all of a user's tokens on each authenticated request, to delete the expired
ones: one more query per API call, for housekeeping. Here a request checks only its own token (an expired
one is still refused, deleted and signalled, exactly as knox does), and beat deletes the expired tokens of
everyone once a day (`core.services.expired_tokens_delete`).

knox reads the candidate tokens (those with the token's key, with their users) by a queryset that the ORM
builds and compiles on every request: about 0.7 ms of Python on every call of the API, for a statement that
PostgreSQL answers in a fraction of that. Here the same statement is written once per process; what is done
with the candidates (the digest's check, the expiry, the refresh, the inactive user) is knox's.
"""

from __future__ import annotations

import binascii
import functools
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

from core.rows import concrete_field_names, instance_from_row, select_list


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        """knox's `authenticate_credentials` (django-rest-knox 5.1), over the candidates of `_tokens_with_key`, and
        with a token that is not UTF-8 or holds a NUL refused as any other wrong token."""
        message = "Invalid token."
        try:
            token = token.decode("utf-8")
        except UnicodeDecodeError:  # knox lets this through as a 500
            raise exceptions.AuthenticationFailed(message) from None
        if "\x00" in token:  # no token has one, and PostgreSQL refuses it in a parameter: knox's 500 again
            raise exceptions.AuthenticationFailed(message)
        for auth_token in _tokens_with_key(token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(message) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(message)

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


def _tokens_with_key(key: str) -> list:
    """The tokens whose key is `key`, each with its user: knox's `filter(token_key=key).select_related('user')`."""
    token_model, user_model = get_token_model(), get_user_model()
    token_fields, user_fields = concrete_field_names(token_model), concrete_field_names(user_model)
    with connection.cursor() as cursor:
        cursor.execute(_tokens_with_key_sql(), [key])
        rows = cursor.fetchall()
    tokens = []
    for row in rows:
        auth_token = instance_from_row(token_model, token_fields, row[: len(token_fields)])
        auth_token.user = instance_from_row(user_model, user_fields, row[len(token_fields) :])
        tokens.append(auth_token)
    return tokens


@functools.cache
def _tokens_with_key_sql() -> str:
    quote = connection.ops.quote_name
    token_model, user_model = get_token_model(), get_user_model()
    tokens, users = token_model._meta, user_model._meta
    token_columns = select_list("t", token_model, concrete_field_names(token_model))
    user_columns = select_list("u", user_model, concrete_field_names(user_model))
    user_id = quote(tokens.get_field("user").column)
    return (
        f"SELECT {token_columns}, {user_columns} FROM {quote(tokens.db_table)} AS t"
        f" INNER JOIN {quote(users.db_table)} AS u ON u.{quote(users.pk.column)} = t.{user_id}"
        f" WHERE t.{quote(tokens.get_field('token_key').column)} = %s"
    )
