"""The only code that writes contacts and their links (SPEC §4, §5, §7): one module per use case.

- ``identify``: ``POST /identify/``.
- ``corrections``: the support staff's edits, soft deletes and restores, and re-running
  reconciliation on clusters.
- ``bulk``: ``manage.py import_contacts`` and the repairs of ``manage.py reconcile``.

Every writer follows the locking protocol of docs/concurrency.md (``contacts.locking``).
"""
