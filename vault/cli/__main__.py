"""`python -m vault.cli`: the same command as the `vault` console script."""

from vault._entry import main

main()
