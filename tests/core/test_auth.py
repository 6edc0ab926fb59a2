from datetime import timedelta

import pytest
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework.test import APIClient

from tests.factories import UserFactory

TOKEN_URL = "/api/v1/auth/token"
ME_URL = "/api/v1/auth/me"
LOGOUT_URL = "/api/v1/auth/logout"
PASSWORD = "correct-horse-battery"  # the password UserFactory gives every user


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.mark.django_db
def test_token_is_issued_for_username_and_password_and_authenticates_me(anonymous_client):
    user = UserFactory(username="buyer")

    response = anonymous_client.post(TOKEN_URL, {"username": "buyer", "password": PASSWORD}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"token", "expiry"}
    assert body["token"]
    assert body["expiry"] is not None
    me = client_with(body["token"]).get(ME_URL)
    assert me.status_code == 200
    assert me.json() == {"id": user.id, "username": "buyer", "is_staff": False}


@pytest.mark.django_db
def test_me_reports_staff_for_a_staff_token(staff_client, staff_user):
    response = staff_client.get(ME_URL)

    assert response.status_code == 200
    assert response.json() == {"id": staff_user.id, "username": staff_user.username, "is_staff": True}


@pytest.mark.django_db
def test_wrong_password_is_refused_naming_the_password_field(anonymous_client):
    UserFactory(username="buyer")

    response = anonymous_client.post(TOKEN_URL, {"username": "buyer", "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Unable to log in with these credentials.",
        "extra": {"fields": {"password": ["Unable to log in with these credentials."]}},
    }
    assert not AuthToken.objects.exists()


@pytest.mark.django_db
def test_unknown_username_gets_the_same_answer_as_a_wrong_password(anonymous_client):
    response = anonymous_client.post(TOKEN_URL, {"username": "nobody", "password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"password": ["Unable to log in with these credentials."]}


@pytest.mark.django_db
def test_inactive_user_gets_no_token(anonymous_client):
    UserFactory(username="gone", is_active=False)

    response = anonymous_client.post(TOKEN_URL, {"username": "gone", "password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["extra"]["fields"]
    assert not AuthToken.objects.exists()


@pytest.mark.django_db
def test_unknown_field_in_the_token_request_is_refused(anonymous_client):
    UserFactory(username="buyer")

    response = anonymous_client.post(
        TOKEN_URL, {"username": "buyer", "password": PASSWORD, "remember_me": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input: remember_me: Unknown field.",
        "extra": {"fields": {"remember_me": ["Unknown field."]}},
    }
    assert not AuthToken.objects.exists()


@pytest.mark.django_db
def test_missing_fields_are_each_named(anonymous_client):
    response = anonymous_client.post(TOKEN_URL, {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input: username: This field is required.",
        "extra": {"fields": {"username": ["This field is required."], "password": ["This field is required."]}},
    }


@pytest.mark.django_db
def test_missing_password_is_named(anonymous_client):
    UserFactory(username="buyer")

    response = anonymous_client.post(TOKEN_URL, {"username": "buyer"}, format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"password": ["This field is required."]}


@pytest.mark.django_db
def test_token_request_that_is_not_an_object_is_refused(anonymous_client):
    response = anonymous_client.post(TOKEN_URL, ["buyer", PASSWORD], format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body["extra"]["fields"]) == ["non_field_errors"]
    assert body["message"] == body["extra"]["fields"]["non_field_errors"][0]


@pytest.mark.django_db
def test_malformed_json_is_a_400_in_the_error_shape(anonymous_client):
    response = anonymous_client.post(TOKEN_URL, data="{not json", content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert body["message"].startswith("JSON parse error")


@pytest.mark.django_db
def test_token_limit_per_user_is_enforced(anonymous_client):
    user = UserFactory(username="buyer")
    for _ in range(knox_settings.TOKEN_LIMIT_PER_USER):
        AuthToken.objects.create(user)

    response = anonymous_client.post(TOKEN_URL, {"username": "buyer", "password": PASSWORD}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "message": "Too many active tokens for this user: log out of another session first.",
        "extra": {},
    }
    assert AuthToken.objects.filter(user=user).count() == knox_settings.TOKEN_LIMIT_PER_USER


@pytest.mark.django_db
def test_expired_tokens_do_not_count_against_the_limit(anonymous_client):
    user = UserFactory(username="buyer")
    for _ in range(knox_settings.TOKEN_LIMIT_PER_USER):
        AuthToken.objects.create(user, expiry=timedelta(seconds=-1))

    response = anonymous_client.post(TOKEN_URL, {"username": "buyer", "password": PASSWORD}, format="json")

    assert response.status_code == 201, response.json()


@pytest.mark.django_db
def test_me_without_a_token_is_401_in_the_error_shape(anonymous_client):
    response = anonymous_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


@pytest.mark.django_db
def test_me_with_a_bogus_token_is_401(db):
    response = client_with("not-a-real-token").get(ME_URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid token.", "extra": {}}


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["\xff\xfe-not-utf-8", "nul-\x00-inside", "x" * 5000])
def test_a_malformed_token_is_401_not_500(db, token):
    response = client_with(token).get(ME_URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid token.", "extra": {}}


@pytest.mark.django_db
def test_logout_revokes_the_token_so_the_next_call_is_401(anonymous_client):
    UserFactory(username="buyer")
    token = anonymous_client.post(TOKEN_URL, {"username": "buyer", "password": PASSWORD}, format="json").json()["token"]
    client = client_with(token)
    assert client.get(ME_URL).status_code == 200

    response = client.post(LOGOUT_URL)

    assert response.status_code == 204
    assert not AuthToken.objects.exists()
    after = client.get(ME_URL)
    assert after.status_code == 401
    assert after.json() == {"message": "Invalid token.", "extra": {}}


@pytest.mark.django_db
def test_logout_revokes_only_the_token_of_the_request(anonymous_client):
    UserFactory(username="buyer")
    credentials = {"username": "buyer", "password": PASSWORD}
    first = anonymous_client.post(TOKEN_URL, credentials, format="json").json()["token"]
    second = anonymous_client.post(TOKEN_URL, credentials, format="json").json()["token"]

    assert client_with(first).post(LOGOUT_URL).status_code == 204

    assert client_with(first).get(ME_URL).status_code == 401
    assert client_with(second).get(ME_URL).status_code == 200


@pytest.mark.django_db
def test_logout_without_a_token_is_401(anonymous_client):
    response = anonymous_client.post(LOGOUT_URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


@pytest.mark.django_db
def test_an_expired_token_is_refused_and_deleted(db):
    user = UserFactory()
    expired, token = AuthToken.objects.create(user, expiry=timedelta(seconds=-1))

    response = client_with(token).get(ME_URL)

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token."
    assert not AuthToken.objects.filter(pk=expired.pk).exists()


@pytest.mark.django_db
def test_a_request_reads_only_its_own_token(db, django_assert_num_queries):
    """knox would read all of the user's tokens on every request to sweep the expired ones; beat does that."""
    user = UserFactory()
    AuthToken.objects.create(user, expiry=timedelta(seconds=-1))
    _, token = AuthToken.objects.create(user)
    client = client_with(token)

    with django_assert_num_queries(1) as captured:  # the token with its user; /auth/me reads nothing more
        response = client.get(ME_URL)

    assert response.status_code == 200
    assert "knox_authtoken" in captured.captured_queries[0]["sql"]
    assert AuthToken.objects.filter(user=user).count() == 2  # the other, expired token waits for beat


@pytest.mark.django_db
def test_a_token_is_told_from_another_with_the_same_key_by_its_digest(db):
    """Tokens are found by their first characters (the key) and told apart by the digest of the whole."""
    owner, other = UserFactory(), UserFactory()
    _, token = AuthToken.objects.create(owner)
    twin, twin_token = AuthToken.objects.create(other)
    AuthToken.objects.filter(pk=twin.pk).update(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])

    assert client_with(token).get(ME_URL).json()["username"] == owner.username
    forged = token[: CONSTANTS.TOKEN_KEY_LENGTH] + twin_token[CONSTANTS.TOKEN_KEY_LENGTH :]
    assert client_with(forged).get(ME_URL).status_code == 401  # the key's, with another digest: no match
    assert client_with(twin_token).get(ME_URL).status_code == 401  # its key is no longer the one it was given


@pytest.mark.django_db
def test_the_token_of_a_deactivated_user_is_refused(db):
    user = UserFactory()
    _, token = AuthToken.objects.create(user)
    user.is_active = False
    user.save()

    response = client_with(token).get(ME_URL)

    assert response.status_code == 401
    assert response.json()["message"] == "User inactive or deleted."


@pytest.mark.django_db
def test_beat_deletes_the_expired_tokens_of_everyone(db):
    from core.tasks import expired_tokens_delete_task

    first, second = UserFactory(), UserFactory()
    AuthToken.objects.create(first, expiry=timedelta(seconds=-1))
    AuthToken.objects.create(second, expiry=timedelta(seconds=-60))
    live, _ = AuthToken.objects.create(second)

    assert expired_tokens_delete_task.apply().get() == 2
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [live.pk]
