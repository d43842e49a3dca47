"""The support staff's admin (SPEC §7): find a cluster, see why its contacts belong, correct it.

Links are never written here. Django's generic change form would save every column of a contact
read before the form was shown, links included, so contacts are read-only in it; each correction
has its own page (``get_urls``, as ``UserAdmin`` does for passwords) that calls one service of
``contacts.services``. Those services own their transactions (docs/concurrency.md), so these pages
run outside any ``transaction.atomic``. Corrections need Django's change permission on contacts,
soft deletes its delete permission; the view permission alone makes a read-only support role.

One module per admin: ``contact.py`` (contacts and their corrections), ``cluster.py`` (the
cluster pages), ``history.py`` (cluster events and link records), ``api_key.py`` (the clients'
API keys), ``governance.py`` (blocked identifiers, held merges and raised limits, behind their own
permission, ``govern_identifiers``), ``privacy.py`` (the erase page of contacts and clusters, and
the erasures' records, behind ``erase_person``), ``webhooks.py`` (webhook endpoints, their
deliveries and the identity events, docs/events.md); ``common.py`` what they share.
"""

from contacts.admin import api_key, cluster, contact, governance, history, privacy, webhooks

__all__ = ["api_key", "cluster", "contact", "governance", "history", "privacy", "webhooks"]
