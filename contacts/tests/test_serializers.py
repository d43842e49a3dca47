"""``represent`` and ``validated`` share one serializer per class across requests and threads."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework.exceptions import ValidationError

from contacts.serializers import IdentifyRequestSerializer, validated


def test_threads_validating_through_the_shared_serializer_each_get_their_own_values():
    bodies = [
        {"email": f"Person{n}@Example.com", "phoneNumber": f"+1 650 555 {n:04d}"}
        for n in range(400)
    ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda body: validated(IdentifyRequestSerializer, body), bodies))

    assert answers == [
        {"email": f"person{n}@example.com", "phone_number": f"+1650555{n:04d}"} for n in range(400)
    ]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (None, {"non_field_errors": ["No data provided"]}),
        ([], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ({}, {"non_field_errors": ["Provide an email, a phoneNumber, or both."]}),
    ],
)
def test_invalid_data_is_worded_as_is_valid_words_it(data, errors):
    serializer = IdentifyRequestSerializer(data=data)
    assert not serializer.is_valid()

    with pytest.raises(ValidationError) as raised:
        validated(IdentifyRequestSerializer, data)

    assert raised.value.detail == serializer.errors == errors
