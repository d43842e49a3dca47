"""The service's models, one module per use case; every name is importable from here.

``contacts`` (contacts, link records, the history), ``access`` (API keys and their scopes),
``governance`` (blocked values, held merges, limits), ``privacy`` (erasures and their ledger),
``events`` (identity events and webhook deliveries).
"""

from contacts.models.access import (
    ApiKey,
    Scope,
)
from contacts.models.contacts import (
    LIVE,
    Cluster,
    ClusterEvent,
    Contact,
    EventKind,
    IdentifierKind,
    IdentityLink,
    LinkPrecedence,
    LiveContactManager,
    PrimaryContactManager,
    Source,
)
from contacts.models.events import (
    DeliveryLane,
    DeliveryStatus,
    EventSequencer,
    IdentityStream,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from contacts.models.governance import (
    PATTERN_MAX_LENGTH,
    BlockedIdentifier,
    ClusterLimit,
    GovernanceVersion,
    HeldMerge,
    HeldMergeKind,
    HeldMergeStatus,
    MatchType,
)
from contacts.models.privacy import (
    ErasedIdentifier,
    Erasure,
    ErasureScope,
)

__all__ = [
    "LIVE",
    "PATTERN_MAX_LENGTH",
    "ApiKey",
    "BlockedIdentifier",
    "Cluster",
    "ClusterEvent",
    "ClusterLimit",
    "Contact",
    "DeliveryLane",
    "DeliveryStatus",
    "ErasedIdentifier",
    "Erasure",
    "ErasureScope",
    "EventKind",
    "EventSequencer",
    "GovernanceVersion",
    "HeldMerge",
    "HeldMergeKind",
    "HeldMergeStatus",
    "IdentifierKind",
    "IdentityLink",
    "IdentityStream",
    "LinkPrecedence",
    "LiveContactManager",
    "MatchType",
    "OutboxEvent",
    "PrimaryContactManager",
    "Scope",
    "Source",
    "WebhookDelivery",
    "WebhookEndpoint",
]
