"""Load and scale benchmarks of ``POST /identify/``: ``make bench`` runs ``bench.run``."""
