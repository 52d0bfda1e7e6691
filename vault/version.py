"""The single source of the version, importable without pulling in anything else."""

__version__ = "0.1.0"
