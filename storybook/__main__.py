"""`python -m storybook ...` runs the command-line interface."""

import sys

from storybook.cli import main

sys.exit(main())
