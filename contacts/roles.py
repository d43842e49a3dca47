"""The staff's roles (SPEC §7): Django groups over the admin's own permissions.

Reading needs the view permissions; corrections need ``change_contact`` (edit, restore, re-run
reconciliation) and ``delete_contact`` (soft delete). Identifier governance (blocking values,
deciding held merges, docs/governance.md) needs ``govern_identifiers``, and erasing a person's
data (docs/privacy.md) ``erase_person``: each a role of its own, never part of the support roles.
The integrations role manages webhook endpoints and redelivers their deliveries (docs/events.md),
and sees no contact. See ``contacts/admin/``.
"""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

READ_ONLY = "Support (read-only)"
CORRECTIONS = "Support (corrections)"
GOVERNANCE = "Governance"
PRIVACY = "Privacy (erasure)"
INTEGRATIONS = "Integrations (webhooks)"

_VIEW = ["view_contact", "view_cluster", "view_clusterevent", "view_identitylink"]

SUPPORT_ROLES: dict[str, list[str]] = {
    READ_ONLY: _VIEW,
    CORRECTIONS: [*_VIEW, "change_contact", "delete_contact"],
    GOVERNANCE: [
        *_VIEW,
        "view_blockedidentifier",
        "view_heldmerge",
        "view_clusterlimit",
        "add_blockedidentifier",
        "delete_blockedidentifier",
        "govern_identifiers",
    ],
    PRIVACY: [*_VIEW, "view_erasure", "erase_person"],
    INTEGRATIONS: [
        "view_webhookendpoint",
        "add_webhookendpoint",
        "change_webhookendpoint",
        "view_webhookdelivery",
        "change_webhookdelivery",
        "view_outboxevent",
    ],
}


@transaction.atomic
def support_roles_ensure() -> list[Group]:
    """Create the staff's groups, or reset them to exactly their role's permissions."""
    groups = []
    for name, codenames in SUPPORT_ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="contacts", codename__in=codenames)
        )
        groups.append(group)
    return groups
