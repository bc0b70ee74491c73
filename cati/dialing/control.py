"""What the rest of the service may ask of the dialer (kept on ``app.state.dialer``).

The console talks to the dialer only through this protocol, so its handlers and tests work the same
with the real dialing loop and with ``NullDialer`` (no telephony at all).
"""

from __future__ import annotations

from typing import Any, Protocol


class DialerUnavailable(Exception):
    """The dialer cannot act now (PBX down, dialer not running); the message says why."""


class DialerControl(Protocol):
    async def dial_preview(self, *, user_id: int, case_id: int) -> int:
        """Originate the previewed case for this interviewer; returns the attempt id."""
        ...

    async def hangup(self, attempt_id: int) -> None:
        """End the call of an attempt (the interviewer hung up or coded the case)."""
        ...

    def wake(self, campaign_id: int | None = None) -> None:
        """A seat became ready or a case was freed: pace now rather than at the next tick."""
        ...

    def status(self) -> dict[str, Any]:
        """The dialer's state for supervisors: link state, calls in progress, pacing figures."""
        ...


class NullDialer:
    """No telephony: every call request fails clearly; used when the dialer is switched off."""

    async def dial_preview(self, *, user_id: int, case_id: int) -> int:
        raise DialerUnavailable("the dialer is not running")

    async def hangup(self, attempt_id: int) -> None:
        return None

    def wake(self, campaign_id: int | None = None) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"running": False, "link": "off"}
