"""``python -m zerops`` runs the command line."""
import sys

from zerops.cli.entry import run

sys.exit(run())
