"""The LRS T7470 wire shape of a guest session, as plain data: one place for every adapter that
shows sessions in the vendor's shape (the CoAP dialect, the HTTP stream for screens), so neither
adapter imports the other.

A session object has the vendor's field order: ``id``, ``sessionSequence`` (not in history
entries), ``uuid``, ``number``, ``partySize``, ``goalInSeconds``, ``created``, ``started`` (equal
to ``created``), ``notified`` and ``cleared`` only once they happened, ``label``, ``state``, and
``clearType`` in history entries. Timestamps are station-local without zone.
"""

from __future__ import annotations

from typing import Any

from sessionhub.core.paging import GuestSession, local_iso


def session_dict(s: GuestSession, history: bool = False) -> dict[str, Any]:
    """A session object; history entries carry ``clearType`` instead of ``sessionSequence``."""
    created = local_iso(s.created_ms)
    out: dict[str, Any] = {"id": s.id}
    if not history:
        out["sessionSequence"] = s.session_seq
    out |= {"uuid": s.uuid, "number": s.number, "partySize": s.party_size, "goalInSeconds": s.goal_s,
            "created": created, "started": created}
    if s.notified_ms is not None:
        out["notified"] = local_iso(s.notified_ms)
    if s.cleared_ms is not None:
        out["cleared"] = local_iso(s.cleared_ms)
    out |= {"label": s.label, "state": s.state.value}
    if history and s.clear_type is not None:
        out["clearType"] = s.clear_type.value
    return out
