"""``python -m skmtrec``: the ``skmtrec`` command."""

import sys

from ._cli import main

sys.exit(main())
