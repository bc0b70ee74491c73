"""``python -m cati.cli`` runs the same console script as ``cati``."""

from cati.cli import main

main()
