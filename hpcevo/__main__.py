"""`python -m hpcevo`: see hpcevo.cli."""

import sys

from .cli import main

sys.exit(main())
