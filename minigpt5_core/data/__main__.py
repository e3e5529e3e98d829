"""`python -m minigpt5_core.data`: check a dataset (see `check`)."""

from .check import check

raise SystemExit(check())
