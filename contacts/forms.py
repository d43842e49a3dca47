"""Forms of the admin's corrections: identifiers validated and normalized as the API does them."""

from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError

from contacts.normalize import (
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
