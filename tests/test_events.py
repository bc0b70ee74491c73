"""Live events reach subscribers only after their transaction commits."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from cati.db import make_sessionmaker
from cati.events import EventBus, install_session_events, queue_event


async def test_events_publish_on_commit_and_vanish_on_rollback(engine: Engine) -> None:
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    factory = make_sessionmaker(engine)
    install_session_events(factory, bus)
    with bus.subscribe({"campaign:1"}) as sub:
        with factory() as s:
            queue_event(s, "campaign:1", "progress", {"completes": 1})
            queue_event(s, "campaign:2", "progress", {"completes": 9})
            assert sub.queue.empty()  # nothing before commit
            s.commit()
        with factory() as s:
            queue_event(s, "campaign:1", "progress", {"completes": 2})
            s.rollback()
        ev = await asyncio.wait_for(sub.queue.get(), 1)
        assert (ev.type, ev.data) == ("progress", {"completes": 1})
        await asyncio.sleep(0.05)
        assert sub.queue.empty()


async def test_publish_from_a_worker_thread_reaches_the_loop() -> None:
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    with bus.subscribe({"seat:3"}) as sub:
        await asyncio.to_thread(bus.publish, "seat:3", "assignment", {"case": 5})
        ev = await asyncio.wait_for(sub.queue.get(), 1)
        assert ev.data == {"case": 5}
