"""`python -m minigpt5_core.evaluate` (see `protocols`)."""

import sys

from .protocols import main

sys.exit(main())
