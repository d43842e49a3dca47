"""API keys in the admin: a superuser makes one (shown once) with its scopes; support staff
cannot see keys at all."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from contacts.models import ApiKey
from contacts.roles import CORRECTIONS, READ_ONLY

pytestmark = pytest.mark.django_db

ADD = reverse("admin:contacts_apikey_add")
LIST = reverse("admin:contacts_apikey_changelist")


def test_a_superuser_makes_a_key_that_is_shown_once_and_works(admin_client, api_keys_required):
    response = admin_client.post(
        ADD, {"name": "crm sync", "scopes": ["lookup"], "expiry_date_0": "", "expiry_date_1": ""}
    )

    assert response.status_code == 302
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.scopes) == ("crm sync", ["lookup"])
    [message] = [
        str(message)
        for message in get_messages(response.wsgi_request)
        if "The API key for" in str(message)
    ]
    key = message.split("The API key for crm sync is: ")[1].split(". ")[0]
    assert key.startswith(f"{api_key.prefix}.")
    assert key in admin_client.get(LIST).content.decode()  # the message, on the next page
    assert key not in admin_client.get(LIST).content.decode()  # and never again
    lookup = admin_client.post(
        "/identities/lookup/",
        {"email": "nobody@example.com"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert lookup.status_code == 404


def test_a_key_needs_a_scope(admin_client):
    response = admin_client.post(
        ADD, {"name": "no scope", "expiry_date_0": "", "expiry_date_1": ""}
    )

    assert response.status_code == 200
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("role", [READ_ONLY, CORRECTIONS])
def test_support_staff_cannot_see_api_keys(staff_client, role):
    client = staff_client(role)

    assert client.get(LIST).status_code == 403
    assert client.get(ADD).status_code == 403
