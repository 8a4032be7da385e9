"""``python -m indirect_core``: the command line, ``indirect_core.apps.cli``."""
import sys

from .apps.cli import main

if __name__ == "__main__":
    sys.exit(main())
