from django.core.management.base import BaseCommand

from contacts.roles import SUPPORT_ROLES, support_roles_ensure


class Command(BaseCommand):
    help = (
        "Create or reset the staff groups: support read-only, support corrections, governance, "
        "privacy (erasure), and integrations (webhooks)."
    )

    def handle(self, *args: object, **options: object) -> None:
        for group in support_roles_ensure():
            codenames = ", ".join(SUPPORT_ROLES[group.name])
            self.stdout.write(f"{group.name}: {codenames}")
