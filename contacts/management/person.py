"""The person a privacy command names (``erase_person``, ``export_person``): ``--email``,
``--phone`` or ``--contact``, in the canonical form the service stores."""

from argparse import _MutuallyExclusiveGroup

from django.core.management.base import CommandError

from contacts.normalize import InvalidIdentifier, normalize_email, normalize_phone_number


def add_person_arguments(group: _MutuallyExclusiveGroup, *, whose: str) -> None:
    """``--email``, ``--phone`` and ``--contact`` in ``group``; ``whose`` ends their help."""
    group.add_argument("--email", help=f"An email address {whose}.")
    group.add_argument("--phone", help=f"A phone number {whose}.")
    group.add_argument("--contact", type=int, help=f"The id of a contact {whose}.")


def person_from_options(options: dict) -> dict[str, int | str] | None:
    """``{"email": …}``, ``{"phone_number": …}`` or ``{"contact_id": …}``, or ``None`` when no
    option names anyone. Errors name the option, never the value."""
    if options["contact"] is not None:
        return {"contact_id": options["contact"]}
    for option, field, normalize in (
        ("email", "email", normalize_email),
        ("phone", "phone_number", normalize_phone_number),
    ):
        if options[option] is None:
            continue
        try:
            value = normalize(options[option])
        except InvalidIdentifier as error:
            raise CommandError(f"--{option}: {error}") from None
        if value is None:
            raise CommandError(f"--{option}: give a value.")
        return {field: value}
    return None
