"""Paths shared by the ``make bench`` modules: the repository root and the output directory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
