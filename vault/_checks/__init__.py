"""Content checks on weights: the safetensors grammar and the pickle allow-list."""
