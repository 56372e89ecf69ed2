"""``python -m checkout``: see ``checkout.cli``."""

import sys

from .cli import main

sys.exit(main())
