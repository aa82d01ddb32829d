"""``python -m skygate.shell [TAP_URL]``: the same as ``skygate shell``."""

import sys

from skygate.shell.repl import main

sys.exit(main())
