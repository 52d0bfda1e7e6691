"""`python -m vault.cli`: the same command as the `vault` console script."""

from vault.cli import main

main()
