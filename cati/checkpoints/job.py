"""The periodic checkpoint: every ``CATI_CHECKPOINT_MINUTES`` while some campaign is in fieldwork.

Runs as a task in the service's lifespan; a database hiccup is logged and the next round tries
again, it never ends the task or the service.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from cati.checkpoints.keys import SignerSource
from cati.checkpoints.service import any_fieldwork, write_checkpoint
from cati.db import transaction

log = logging.getLogger("cati.checkpoints")


def checkpoint_round(factory: sessionmaker[Session], source: SignerSource) -> bool:
    """One round in its own transaction: a checkpoint if a campaign is in fieldwork; True if written."""
    with transaction(factory) as session:
        if not any_fieldwork(session):
            return False
        write_checkpoint(session, source.get(), reason="periodic")
        return True


async def run_periodic(factory: sessionmaker[Session], source: SignerSource, interval_s: float) -> None:
    """Write checkpoints until cancelled; the blocking work runs on a worker thread."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(checkpoint_round, factory, source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a DB hiccup or a bad key: log it, try again next round
            log.warning(
                "audit checkpoint failed, retrying in %.0f s: %s: %s", interval_s, type(exc).__name__, exc
            )
