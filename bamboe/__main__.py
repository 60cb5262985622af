"""``python -m bamboe`` runs the command line."""

from bamboe.cli import main

raise SystemExit(main())
