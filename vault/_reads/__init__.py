"""What the read-only commands and pages show (private): list, show, provenance, a revision's evidence.

Below the operations and the pages, above the catalog and the store: plain
reads over a `CatalogReader`, returning the typed reports in `vault.reports`.
"""
