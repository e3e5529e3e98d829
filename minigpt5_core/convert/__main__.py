"""`python -m minigpt5_core.convert` (see `converter`)."""

import sys

from .converter import main

sys.exit(main())
