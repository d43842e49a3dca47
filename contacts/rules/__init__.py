"""The service's rules as pure functions over plain rows, no ORM: what a write must do, decided
before and again under its locks (docs/concurrency.md), and checked directly by the tests.

One module per use case: ``identify`` (``POST /identify/`` and the lookup's answer), ``relinks``
(corrections and ``reconcile``), ``imports`` (``import_contacts``), ``size_limits`` (the size limit
of identities for the writers of many contacts), ``erasure`` (what an erasure leaves of stored
text). Their public names are importable from here.
"""

from contacts.rules.erasure import ERASED, scrub, scrub_text
from contacts.rules.identify import (
    Hold,
    IdentifyPlan,
    Identity,
    Outcome,
    identity_from_rows,
    plan_identify,
)
from contacts.rules.imports import ImportPlan, ImportRow, plan_import
from contacts.rules.relinks import ClusterChange, LinkChange, describe_relinks, plan_relinks
from contacts.rules.size_limits import OversizedCluster, grown_past_limit, oversized_components

__all__ = [
    "ERASED",
    "ClusterChange",
    "Hold",
    "IdentifyPlan",
    "Identity",
    "ImportPlan",
    "ImportRow",
    "LinkChange",
    "Outcome",
    "OversizedCluster",
    "describe_relinks",
    "grown_past_limit",
    "identity_from_rows",
    "oversized_components",
    "plan_identify",
    "plan_import",
    "plan_relinks",
    "scrub",
    "scrub_text",
]
