"""Reads of contacts and clusters: for the writers (``clusters``), for the admin's pages
(``admin_pages``), and the read-only checks of ``manage.py reconcile`` (``checks``)."""
