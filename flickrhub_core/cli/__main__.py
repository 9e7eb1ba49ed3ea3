"""``python -m flickrhub_core.cli``: the same as the ``flickrhub`` script."""

from flickrhub_core.cli import main

main()
