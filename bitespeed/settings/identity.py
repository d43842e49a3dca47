"""The product's own rules: how often a lost race is tried again, canonical phone numbers, the
size guard of identities, the erasure ledger, and webhook delivery."""

import os

from django.core.exceptions import ImproperlyConfigured

from bitespeed.settings.core import SECRET_KEY
from bitespeed.settings.environment import env_int

# --- Identify transactions ------------------------------------------------------------------------

# How often one /identify/ transaction is tried when it loses a race for a lock (or PostgreSQL
# reports a deadlock or a serialization failure) before the request fails. See docs/concurrency.md.
IDENTIFY_MAX_ATTEMPTS = env_int("IDENTIFY_MAX_ATTEMPTS", default=10)

# --- Identifiers ----------------------------------------------------------------------------------

# A region code (ISO 3166, e.g. "IN", "DE"): phone numbers valid in its numbering plan are stored
# in E.164, so "098765 43210" and "+91 98765 43210" are one identity (contacts.normalize). Changing
# it changes canonical forms: run `manage.py reconcile` afterwards (docs/operations.md).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "").strip().upper()
if PHONE_DEFAULT_REGION:
    import phonenumbers

    if PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(
            f"PHONE_DEFAULT_REGION={PHONE_DEFAULT_REGION!r} is not a region code phonenumbers "
            "knows (two letters, e.g. IN, US, DE)."
        )

# --- Identifier governance (docs/governance.md) ------------------------------------------------

# Live contacts an identity may reach before a write that would pass it is held for a person to
# decide; 0 turns the guard off. A person has a handful of contacts (a household or a small
# business sharing one phone, a few dozen); the merges that hurt (a shared support number, a
# placeholder) reach hundreds.
IDENTITY_MAX_CLUSTER_SIZE = env_int("IDENTITY_MAX_CLUSTER_SIZE", default=100)
if IDENTITY_MAX_CLUSTER_SIZE < 0 or IDENTITY_MAX_CLUSTER_SIZE == 1:
    raise ImproperlyConfigured(
        f"IDENTITY_MAX_CLUSTER_SIZE={IDENTITY_MAX_CLUSTER_SIZE}: give at least 2 contacts, or 0 "
        "for no limit."
    )

# --- Privacy (docs/privacy.md) ------------------------------------------------------------------
# The key of the erasure ledger's and the suppression list's keyed hashes (HMAC-SHA256): it must
# stay the same across backups and restores, or the ledger no longer finds the values it erased.
# Default: derived from SECRET_KEY (set it on its own before rotating SECRET_KEY).
PRIVACY_HASH_KEY = os.environ.get("PRIVACY_HASH_KEY", "") or f"privacy-ledger:{SECRET_KEY}"
# A file every erasure appends its ledger entries to (JSON Lines, keyed hashes only), kept apart
# from the database's backups so that a restore cannot lose it; empty: the database's table only.
PRIVACY_LEDGER_FILE = os.environ.get("PRIVACY_LEDGER_FILE", "")

# --- Events and webhooks (docs/events.md) --------------------------------------------------------
# Seconds a webhook endpoint has to answer one delivery.
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", default=5)
# Seconds a failing delivery is retried (with exponential backoff) before it is dead-lettered.
WEBHOOK_RETRY_PERIOD = env_int("WEBHOOK_RETRY_PERIOD", default=24 * 3600)
# Seconds a worker holds a delivery it sends; past it (the worker died), another worker may.
WEBHOOK_LEASE = env_int("WEBHOOK_LEASE", default=max(60, 2 * WEBHOOK_TIMEOUT))
if WEBHOOK_TIMEOUT < 1 or WEBHOOK_LEASE <= WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured(
        f"WEBHOOK_TIMEOUT={WEBHOOK_TIMEOUT}, WEBHOOK_LEASE={WEBHOOK_LEASE}: the timeout must be at "
        "least 1 second and the lease longer than the timeout."
    )
