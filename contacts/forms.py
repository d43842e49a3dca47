"""Forms of the admin's corrections and governance: identifiers validated and normalized as the
API does them."""

import re
from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError

from contacts.models import PATTERN_MAX_LENGTH, IdentifierKind, MatchType
from contacts.normalize import (
    EMAIL_MAX_LENGTH,
    InvalidIdentifier,
    normalize_email,
    normalize_phone_number,
)


def _normalized(normalize: Callable[[object], str | None], value: str) -> str | None:
    try:
        return normalize(value)
    except InvalidIdentifier as error:
        raise ValidationError(str(error), code="invalid") from error


class ContactIdentifiersForm(forms.Form):
    """A contact's new email and phone number; either may be empty, not both."""

    email = forms.CharField(
        required=False,
        strip=False,
        help_text="Trimmed and lower-cased, as the API stores it. Leave empty for no email.",
    )
    phone_number = forms.CharField(
        required=False,
        strip=False,
        help_text=(
            "Spaces, '-', '.', '(' and ')' are removed and one leading '+' kept, as the API "
            "stores it. Leave empty for no phone number."
        ),
    )

    def clean_email(self) -> str | None:
        return _normalized(normalize_email, self.cleaned_data["email"])

    def clean_phone_number(self) -> str | None:
        return _normalized(normalize_phone_number, self.cleaned_data["phone_number"])

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors and cleaned["email"] is None and cleaned["phone_number"] is None:
            raise ValidationError(
                "A contact needs an email or a phone number. To remove it, soft-delete it.",
                code="no_identifier",
            )
        return cleaned


class BlockedIdentifierForm(forms.Form):
    """A value or a pattern to block (docs/governance.md): exact values are brought to the
    canonical form the API stores; a pattern must compile and match whole canonical values."""

    kind = forms.ChoiceField(choices=IdentifierKind.choices)
    match = forms.ChoiceField(choices=MatchType.choices, initial=MatchType.EXACT)
    value = forms.CharField(
        strip=True,
        max_length=max(EMAIL_MAX_LENGTH, PATTERN_MAX_LENGTH),
        help_text=(
            "An email or phone number written any way the API accepts it, or a Python regular "
            "expression that must match the whole canonical value (e.g. \\+?(\\d)\\1{6,})."
        ),
    )
    reason = forms.CharField(max_length=200, help_text="Why: shown in the list and the history.")

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        value = cleaned["value"]
        if cleaned["match"] == MatchType.PATTERN:
            if len(value) > PATTERN_MAX_LENGTH:
                self.add_error("value", f"At most {PATTERN_MAX_LENGTH} characters.")
            else:
                try:
                    re.compile(value)
                except re.error as error:
                    self.add_error("value", f"Not a regular expression: {error}.")
            return cleaned
        normalize = (
            normalize_email if cleaned["kind"] == IdentifierKind.EMAIL else normalize_phone_number
        )
        try:
            cleaned["value"] = normalize(value)
        except InvalidIdentifier as error:
            self.add_error("value", str(error))
        return cleaned
