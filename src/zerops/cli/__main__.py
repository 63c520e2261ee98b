"""``python -m zerops.cli``: the ``zerops`` command."""
import sys

from zerops.cli.entry import run

if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
