"""``python -m zerops`` runs the command line."""
import sys

from zerops.cli import main

sys.exit(main())
