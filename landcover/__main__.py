"""``python -m landcover`` = the ``landcover`` command."""

from .cli import main

main()
