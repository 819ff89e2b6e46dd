"""``python -m reclaim.cli``: the same as the ``reclaim`` command."""

from reclaim.cli import main

if __name__ == "__main__":  # not when a spawned scan worker re-imports the main module
    main()
