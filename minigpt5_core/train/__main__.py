"""`python -m minigpt5_core.train` (see `trainer`)."""

import sys

from .trainer import _dump_stacks_on_sigusr1, main

_dump_stacks_on_sigusr1()
sys.exit(main())
