"""``manage.py webhooks``: add, list, disable and enable the endpoints that receive identity
events (docs/events.md). ``add`` prints the signing secret once; nothing else ever prints it."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator
from django.db.models import Count, Q, QuerySet

from contacts.models import DeliveryStatus, WebhookEndpoint
from contacts.rules.events import ALL_EVENT_TYPES
from contacts.services.webhooks import (
    UnknownEventTypes,
    webhook_endpoint_create,
    webhook_endpoint_enable,
)

_URL_MAX_LENGTH = WebhookEndpoint._meta.get_field("url").max_length
_DESCRIPTION_MAX_LENGTH = WebhookEndpoint._meta.get_field("description").max_length


def endpoint_url(value: str) -> str:
    """An http or https URL that fits the endpoint's column, or a ``CommandError`` saying why."""
    url = value.strip()
    if len(url) > _URL_MAX_LENGTH:
        raise CommandError(f"The URL is longer than {_URL_MAX_LENGTH} characters.")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise CommandError(f"Not an http or https URL: {url!r}.") from None
    return url


def endpoints_with_counts() -> QuerySet[WebhookEndpoint]:
    """Every endpoint with its pending and dead-lettered deliveries counted."""
    return WebhookEndpoint.objects.annotate(
        pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
    ).order_by("id")


class Command(BaseCommand):
    help = (
        "Manage the webhook endpoints that receive identity events: add one (its signing "
        "secret is printed once), list them, disable or enable one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Add an endpoint and print its signing secret once.")
        add.add_argument("url", help="Where events are POSTed (http or https).")
        add.add_argument(
            "--events",
            nargs="+",
            action="extend",
            default=[],
            metavar="TYPE",
            help=f"Event types it receives (default: all): {', '.join(ALL_EVENT_TYPES)}.",
        )
        add.add_argument("--description", default="", help="Whose endpoint it is, what for.")
        actions.add_parser("list", help="Every endpoint, with its pending and dead deliveries.")
        for action, what in (("disable", "Stop"), ("enable", "Resume")):
            command = actions.add_parser(action, help=f"{what} sending to an endpoint.")
            command.add_argument("id", type=int, help="The endpoint's id (see list).")

    def handle(self, *args: object, **options: object) -> None:
        action = options["action"]
        if action == "add":
            self._add(
                url=endpoint_url(str(options["url"])),
                event_types=list(options["events"]),
                description=str(options["description"]).strip(),
            )
        elif action == "list":
            self._list()
        else:
            self._enable(endpoint_id=int(options["id"]), enabled=action == "enable")

    def _add(self, *, url: str, event_types: list[str], description: str) -> None:
        if len(description) > _DESCRIPTION_MAX_LENGTH:
            raise CommandError(
                f"The description is longer than {_DESCRIPTION_MAX_LENGTH} characters."
            )
        try:
            endpoint = webhook_endpoint_create(
                url=url, event_types=event_types, description=description
            )
        except UnknownEventTypes as error:
            raise CommandError(f"--events: {error}.") from None
        self.stderr.write(
            f"Webhook endpoint #{endpoint.id} for {endpoint.url}, events: "
            f"{_types(endpoint)}. Its signing secret follows; store it now, it will not be "
            "shown again:"
        )
        self.stdout.write(endpoint.secret)

    def _list(self) -> None:
        endpoints = list(endpoints_with_counts())
        if not endpoints:
            self.stdout.write("No webhook endpoints: add one with `webhooks add URL`.")
            return
        self.stdout.write(f"{'id':>5}  {'state':8}  {'pending':>7}  {'dead':>5}  url  events")
        for endpoint in endpoints:
            state = "enabled" if endpoint.enabled else "disabled"
            self.stdout.write(
                f"{endpoint.id:>5}  {state:8}  {endpoint.pending:>7}  {endpoint.dead:>5}  "
                f"{endpoint.url}  {_types(endpoint)}"
            )

    def _enable(self, *, endpoint_id: int, enabled: bool) -> None:
        endpoint = WebhookEndpoint.objects.filter(id=endpoint_id).first()
        if endpoint is None:
            raise CommandError(f"No webhook endpoint #{endpoint_id}: see `webhooks list`.")
        webhook_endpoint_enable(endpoint=endpoint, enabled=enabled)
        if enabled:
            self.stdout.write(
                f"Webhook endpoint #{endpoint.id} enabled: its pending deliveries are sent again."
            )
        else:
            self.stdout.write(
                f"Webhook endpoint #{endpoint.id} disabled: its pending deliveries wait, and "
                "events from now on are not delivered to it."
            )


def _types(endpoint: WebhookEndpoint) -> str:
    return ", ".join(endpoint.event_types) or "all"
