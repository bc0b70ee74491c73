"""A simulated Asterisk 22 PBX speaking real AMI, with a seeded respondent model and a fast clock.

Use it in tests, demos and benchmarks where no Asterisk can run::

    pbx = SimPbx(SimPbxConfig(username="cati", secret="s3cret", seed=7, speed=60))
    host, port = await pbx.start()
    ...  # drive it with any AMI client
    await pbx.stop()
"""

from dialer.simpbx.calls import Dialplan, OriginateRequest, parse_dial
from dialer.simpbx.clock import SimClock
from dialer.simpbx.model import (
    CallPlan,
    LineKind,
    ModelError,
    ModelSpec,
    Params,
    RespondentModel,
    line_kind,
    load_model,
    parse_model,
)
from dialer.simpbx.server import SimPbx, SimPbxConfig, SimPbxStats

__all__ = [
    "CallPlan",
    "Dialplan",
    "LineKind",
    "ModelError",
    "ModelSpec",
    "OriginateRequest",
    "Params",
    "RespondentModel",
    "SimClock",
    "SimPbx",
    "SimPbxConfig",
    "SimPbxStats",
    "line_kind",
    "load_model",
    "parse_dial",
    "parse_model",
]
