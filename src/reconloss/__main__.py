"""``python -m reconloss ...``: the same as the ``reconloss`` command."""

from __future__ import annotations

import sys

from reconloss.cli import main

if __name__ == "__main__":
    sys.exit(main())
