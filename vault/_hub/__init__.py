"""Everything that speaks the Hugging Face Hub's language (private).

`client` pulls from the Hub (or a mirror) and cross-checks what it publishes;
`metadata` says what the Hub would say about a file (LFS, ETag, git blob id);
`model_view` shows a catalogued model the way the Hub would; `cache_view`
writes that as a Hugging Face cache directory; `server` serves it over HTTP.
"""
