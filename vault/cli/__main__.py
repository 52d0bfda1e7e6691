"""`python -m vault.cli`: the click command line (the `vault` console script adds a fast path)."""

from vault.cli import main

main()
