"""What gets signed, and the names inside it (private): the OMS model statement (`manifest`), the
provenance statement (`provenance`), and the grammars of REFs (`refs`) and file paths (`paths`)."""
