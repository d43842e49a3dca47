"""Hostile input to the request parser and serializer: nothing but parse and validation errors."""

import contextlib
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings

from contacts.serializers import IdentifyRequestSerializer

PHONE = re.compile(r"\+?[0-9]{3,20}")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["", " ", "a@b.co", " A@B.CO ", "+1 (555) 010-0", "12", "\x00", "\ud800"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = json_values | st.fixed_dictionaries(
    {}, optional={"email": json_values, "phoneNumber": json_values, "other": json_values}
)


def parse(raw: bytes) -> object:
    parser = api_settings.DEFAULT_PARSER_CLASSES[0]()
    return parser.parse(io.BytesIO(raw), "application/json", {})


@settings(max_examples=300, deadline=None)
@given(body=bodies)
def test_any_json_value_is_parsed_and_validated_without_crashing(body):
    data = parse(json.dumps(body).encode())

    serializer = IdentifyRequestSerializer(data=data)
    if serializer.is_valid():
        email = serializer.validated_data["email"]
        phone_number = serializer.validated_data["phone_number"]
        assert email is not None or phone_number is not None
        assert email is None or (email == email.strip().lower() and "@" in email)
        assert phone_number is None or PHONE.fullmatch(phone_number)
    else:
        assert serializer.errors


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_parse_or_raise_a_parse_error(raw):
    with contextlib.suppress(ParseError):
        parse(raw)


@pytest.mark.parametrize("depth", [1_000, 8_000])
def test_deeply_nested_json_is_a_parse_error(depth):
    with pytest.raises(ParseError):
        parse(b"[" * depth + b"]" * depth)
