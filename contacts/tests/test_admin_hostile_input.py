"""No admin URL answers 500, whatever a query string or a path holds: every list with hostile
searches and filter values, every change page and custom page with hostile ids."""

from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.contrib.admin import FieldListFilter, SimpleListFilter
from django.urls import reverse

pytestmark = pytest.mark.django_db

# A superscript digit (``isdigit()`` but not ``int()``), an Arabic-Indic digit, NUL, a number
# past bigint, a negative, an exponent, a long string, a right-to-left override.
HOSTILE = ["²", "٣", "\x00", "9" * 30, "-1", "1e3", "x" * 5000, "\u202egro.elpmaxe"]

OUR_ADMINS = [
    model_admin
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label == "contacts"
]


def changelist(model_admin) -> str:
    return reverse(f"admin:contacts_{model_admin.opts.model_name}_changelist")


def filter_parameters(model_admin) -> list[str]:
    """The query parameters of a list's filters, as its filter links would send them."""
    names = []
    for spec in model_admin.list_filter:
        if isinstance(spec, str):
            names.append(f"{spec}__exact")
        elif isinstance(spec, tuple):
            names += [f"{spec[0]}__gte", f"{spec[0]}__lt"]
        elif issubclass(spec, SimpleListFilter):
            names.append(spec.parameter_name)
        elif issubclass(spec, FieldListFilter):
            continue
    return names


def hostile_urls(model_admin) -> list[str]:
    """Its list searched, filtered and ordered by each hostile value; its change page (and the
    contacts' custom pages) given each as an id."""
    base = changelist(model_admin)
    urls = []
    for value in HOSTILE:
        urls.append(f"{base}?{urlencode({'q': value})}")
        urls += [f"{base}?{urlencode({name: value})}" for name in filter_parameters(model_admin)]
        urls.append(f"{base}?{urlencode({'o': value})}")
        urls.append(f"{base}{quote(value, safe='')}/change/")
        if model_admin.opts.model_name == "contact":
            for page in ("soft_delete", "restore"):
                page_url = reverse(f"admin:contacts_contact_{page}")
                urls.append(f"{page_url}?{urlencode({'ids': value})}")
            urls.append(f"{base}{quote(value, safe='')}/identifiers/")
    return urls


@pytest.mark.parametrize("model_admin", OUR_ADMINS, ids=lambda admin_: admin_.opts.model_name)
def test_no_admin_url_answers_500(admin_client, model_admin):
    admin_client.raise_request_exception = False

    answers = {url: admin_client.get(url).status_code for url in hostile_urls(model_admin)}

    assert {url: status for url, status in answers.items() if status >= 500} == {}


def test_every_list_of_the_service_is_covered():
    assert {model_admin.opts.model_name for model_admin in OUR_ADMINS} >= {
        "contact",
        "cluster",
        "clusterevent",
        "identitylink",
        "apikey",
        "webhookendpoint",
        "webhookdelivery",
        "outboxevent",
    }


def test_a_hostile_search_finds_nothing_rather_than_failing(admin_client, make_contact):
    make_contact(email="a@example.com", phone="222")

    response = admin_client.get(reverse("admin:contacts_contact_changelist"), {"q": "²"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_a_nul_in_a_list_filter_is_400(admin_client):
    url = reverse("admin:contacts_contact_changelist")

    response = admin_client.get(url, {"link_precedence__exact": "\x00"})

    assert response.status_code == 400
