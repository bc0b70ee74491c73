"""AAPOR temporary dispositions for the telephone outcome of one call attempt.

Why: AAPOR *Standard Definitions* (Table 1, RDD telephone surveys) is the vocabulary the city's report
uses for response rates. A single attempt only gives a *temporary* code; the case's final code is chosen
by the scheduler from all its attempts (e.g. 3.12 "always busy" is final only if every attempt was busy).
An answered call gets its code from the interviewer (1.x interview, 2.x refusal/non-contact, 4.5x
business...), so the code below for ``answered`` is a placeholder until the interviewer codes the call.

What the network cannot tell: fax/data lines (4.20) and answering machines (2.22/3.14) need tone or
answering-machine detection that plain AMI events do not carry; interviewers code those.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from dialer.ami.outcomes import CallOutcome

__all__ = ["AAPOR_LABELS", "TEMPORARY_DISPOSITIONS", "Disposition", "temporary_disposition"]

#: AAPOR RDD telephone codes used here, with the Standard Definitions' labels.
AAPOR_LABELS = MappingProxyType(
    {
        "3.11": "Not attempted or worked",
        "3.12": "Always busy",
        "3.13": "No answer",
        "3.15": "Call blocking",
        "3.16": "Technical phone problems",
        "3.90": "Other (unknown eligibility)",
        "4.31": "Non-working number",
        "4.33": "Temporarily out of service",
        "4.41": "Number changed",
    }
)


@dataclass(frozen=True, slots=True)
class Disposition:
    """An AAPOR code with its label and why an outcome maps to it."""

    code: str
    label: str
    why: str


def _d(code: str, why: str) -> Disposition:
    return Disposition(code, AAPOR_LABELS[code], why)


TEMPORARY_DISPOSITIONS: MappingProxyType[CallOutcome, Disposition] = MappingProxyType(
    {
        CallOutcome.ANSWERED: _d(
            "3.90",
            "a live answer: eligibility unknown until the interviewer codes the call (1.x, 2.x, 4.x)",
        ),
        CallOutcome.BUSY: _d("3.12", "busy signal (Reason 5 / Q.850 17); final only if always busy"),
        CallOutcome.NO_ANSWER: _d("3.13", "rang without answer until the timeout (Reason 3 / Q.850 18, 19)"),
        CallOutcome.CONGESTION: _d(
            "3.16",
            "network or trunk trouble, fast busy (Reason 8 / Q.850 34, 38, 41, 42...), not the line",
        ),
        CallOutcome.NON_WORKING: _d("4.31", "the network says the number does not exist (Q.850 1, 3, 28)"),
        CallOutcome.NUMBER_CHANGED: _d("4.41", "the network says the number changed (Q.850 22)"),
        CallOutcome.REJECTED: _d("3.15", "the line rejected the call (Q.850 21): call blocking or screening"),
        CallOutcome.UNAVAILABLE: _d(
            "4.33",
            "destination out of order or subscriber absent (Q.850 27, 20); temporary, so it is retried",
        ),
        CallOutcome.FAILED: _d(
            "3.11",
            "our side failed (bad channel, dialplan, Originate refused): the number was not really dialled",
        ),
        CallOutcome.CANCELLED: _d("3.11", "the dialer hung up before an answer: no result for this number"),
        CallOutcome.LOST: _d(
            "3.90",
            "the AMI link dropped and the call was gone on reconnect: it may have rung; result unknown",
        ),
    }
)


def temporary_disposition(outcome: CallOutcome) -> Disposition:
    """The AAPOR temporary disposition for one attempt's telephone outcome."""
    return TEMPORARY_DISPOSITIONS[outcome]
