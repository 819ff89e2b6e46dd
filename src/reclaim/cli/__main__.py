"""``python -m reclaim.cli``: the same as the ``reclaim`` command."""

from reclaim.cli import main

main()
