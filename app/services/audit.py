"""The audit-log service: every staff change goes through ``record``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; built by the web layer or the CLI."""

    user_id: int | None
    label: str
    source_ip: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        """An action of the system itself or of a CLI operator."""
        return cls(None, label, None)


def _plain(value: Any) -> Any:
    """Make before/after values JSON-safe (datetimes as ISO strings, sets as sorted lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return "<bytes>"
    return value


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    league_code: str | None = None,
    now: datetime,
) -> AuditEntry:
    """Add one audit entry to the caller's transaction (it commits or rolls back with the change)."""
    entry = AuditEntry(
        at=now,
        actor_id=actor.user_id,
        actor_label=actor.label[:64],
        source_ip=actor.source_ip,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        league_code=league_code,
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        reason=reason,
    )
    session.add(entry)
    return entry
