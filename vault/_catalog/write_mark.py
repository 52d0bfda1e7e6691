"""The mark `Home.write()` puts on the one kind of session that may change the catalog.

Below both `_home` (which sets it) and `_audit` (which checks it), so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

WRITING = "vault.writing"


def is_writing(session: Session) -> bool:
    return bool(session.info.get(WRITING))
