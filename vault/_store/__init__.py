"""The store (private): content-addressed read-only blobs, durable writes, and the views published
from the catalog (the directory tree and the Hugging Face cache), with the damage bookkeeping
that withdraws a revision from them."""
