"""Where vault writes what the operator names: into folders that exist, never folders it makes up.

`vault bundle REF -o /media/usb/m.vault` with the stick not mounted must not
create `/media/usb` on the local disk and report success: the operator would
carry an empty stick across the gap. So every command that writes a file the
operator names (bundle, inventory, bom, provenance --out, sign --out, keygen)
checks here, before any work, that the folder it writes into exists; a named
output folder is created only when the folder above it exists. One rule, one
message.
"""

from __future__ import annotations

from pathlib import Path

from vault.errors import UsageError


def _missing(folder: Path) -> UsageError:
    return UsageError(f"{folder}: no such directory (is the medium mounted?); vault does not create it")


def output_file(path: Path) -> Path:
    """`path`, absolute, once the folder it goes into exists (else one line that says which is missing)."""
    path = path.absolute()
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{path.parent}: is a file, not a directory to write into")
    if not path.parent.is_dir():
        raise _missing(path.parent)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; name a file to write")
    return path


def planned_dir(path: Path) -> Path:
    """`path`, absolute, once it is a folder or one vault may create (checked before any work)."""
    path = path.absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a directory")
    if not path.is_dir() and not path.parent.is_dir():
        raise _missing(path.parent)
    return path


def output_dir(path: Path) -> Path:
    """`path`, created if the folder above it exists; vault never creates more than the folder named."""
    path = planned_dir(path)
    if not path.is_dir():
        path.mkdir()
    return path
