"""``python -m torchprimer ...`` runs the command line, like the ``torchprimer`` command."""

from torchprimer.cli import main

raise SystemExit(main())
