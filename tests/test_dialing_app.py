"""The dialer inside the service: the lifespan starts it (built-in simulated PBX) or a NullDialer,
and ``GET /api/v1/dialer/status`` shows its state to admins and supervisors only.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from support import Users

from cati.app import create_app
from cati.dialing.control import NullDialer
from cati.dialing.service import DialerService
from cati.models import Role
from cati.settings import Settings


def test_status_route_with_the_built_in_pbx(settings: Settings, users: Users) -> None:
    users.create("sup", Role.supervisor)
    users.create("iv", Role.interviewer)
    on = settings.model_copy(update={"dialer": True, "speed": 10.0, "dialer_tick_seconds": 0.05})
    with TestClient(create_app(on), raise_server_exceptions=False) as client:
        assert isinstance(client.app.state.dialer, DialerService)  # type: ignore[attr-defined]
        sup, iv = users.bearer("sup"), users.bearer("iv")
        deadline = time.monotonic() + 10
        body = client.get("/api/v1/dialer/status", headers=sup).json()
        while body["link"] != "up" and time.monotonic() < deadline:
            time.sleep(0.05)
            body = client.get("/api/v1/dialer/status", headers=sup).json()
        assert body["link"] == "up" and body["running"] is True and body["placing_calls"] is True
        assert body["pbx"]["kind"] == "simulated" and body["pbx"]["host"] == "127.0.0.1"
        assert body["speed"] == 10.0
        assert client.get("/api/v1/dialer/status", headers=iv).status_code == 403
        assert client.get("/api/v1/dialer/status").status_code == 401
    # the lifespan stopped it (and the built-in PBX) on the way out
    assert isinstance(client.app.state.dialer, NullDialer)  # type: ignore[attr-defined]


def test_dialer_off_gives_a_null_dialer(settings: Settings, users: Users) -> None:
    users.create("adm", Role.admin)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert isinstance(client.app.state.dialer, NullDialer)  # type: ignore[attr-defined]
        r = client.get("/api/v1/dialer/status", headers=users.bearer("adm"))
        assert r.status_code == 200 and r.json() == {"running": False, "link": "off"}
