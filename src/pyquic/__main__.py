"""``python -m pyquic``: the same as the ``pyquic`` command."""

import sys

from pyquic.tools.cli import main

sys.exit(main())
