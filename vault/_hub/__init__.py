"""Everything that speaks the Hugging Face Hub's language (private).

`metadata` says what the Hub would say about a file (LFS, ETag, git blob id);
`model_view` shows a catalogued model the way the Hub would; `cache_view`
writes that as a Hugging Face cache directory; `server` serves it over HTTP.
Pulling from the Hub is an operation (`vault._ops.pull`).
"""
