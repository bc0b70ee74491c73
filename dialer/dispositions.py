"""AAPOR temporary dispositions for the telephone outcome of one call attempt: the one table.

Why: AAPOR *Standard Definitions* (Table 1, RDD telephone surveys) is the vocabulary the city's report
uses for response rates. A single attempt only gives a *temporary* code; the case's final code is chosen
by the scheduler (``dialer.schedule.final_disposition``) from all its attempts (e.g. 3.12 "always busy" is
final only if every attempt was busy). An answered call gets its code from the interviewer (1.x
interview, 2.x refusal/non-contact, 4.5x business...), so the code below for ``answered`` stands only
when no interviewer coded the call (abandoned, or the respondent hung up first).

This table is the only one: the dialing service records it for every call it sees end, the case service
falls back on it for a result given without a code, and reconciliation uses it for calls gone from the
PBX. Every code in it is one the scheduler knows (``dialer.schedule.DISPOSITIONS``).

What the network cannot tell: fax/data lines (4.20) and answering machines (2.22/3.14) need tone or
answering-machine detection that plain AMI events do not carry; interviewers code those.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from dialer.ami.outcomes import CallOutcome, classify

__all__ = [
    "AAPOR_LABELS",
    "NOT_DIALLED",
    "TEMPORARY_DISPOSITIONS",
    "Disposition",
    "UnknownCallOutcome",
    "call_disposition",
    "counts_as_attempt",
    "temporary_disposition",
]

#: AAPOR RDD telephone codes used here, with the Standard Definitions' labels.
AAPOR_LABELS = MappingProxyType(
    {
        "3.11": "Not attempted or worked",
        "3.12": "Always busy",
        "3.13": "No answer",
        "3.15": "Call blocking",
        "3.16": "Technical phone problems",
        "3.21": "No screener completed",
        "4.31": "Non-working number",
        "4.33": "Temporarily out of service",
        "4.41": "Number changed",
    }
)


class UnknownCallOutcome(ValueError):
    """A call outcome that is not a :class:`CallOutcome`; the message names it."""


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
            "3.21",
            "a live answer no interviewer coded (abandoned, or hung up first): contact, no screener "
            "completed, eligibility unknown; the same code an interviewer gives a hang-up before screening",
        ),
        CallOutcome.BUSY: _d("3.12", "busy signal (Reason 5 / Q.850 17); final only if always busy"),
        CallOutcome.NO_ANSWER: _d("3.13", "rang without answer until the timeout (Reason 3 / Q.850 18, 19)"),
        CallOutcome.CONGESTION: _d(
            "3.16",
            "network or trunk trouble, fast busy (Reason 8 / Q.850 34, 38, 41, 42...), not the line",
        ),
        CallOutcome.NON_WORKING: _d("4.31", "the network says the number does not exist (Q.850 1, 3, 28)"),
        CallOutcome.NUMBER_CHANGED: _d(
            "4.41", "the network says the number changed (Q.850 22): not the sampled line any more"
        ),
        CallOutcome.REJECTED: _d("3.15", "the line rejected the call (Q.850 21): call blocking or screening"),
        CallOutcome.UNAVAILABLE: _d(
            "4.33",
            "destination out of order or subscriber absent (Q.850 27, 20); temporary, so it is retried",
        ),
        CallOutcome.FAILED: _d(
            "3.11",
            "our side failed (bad channel, dialplan, Originate refused): the number was not really "
            "dialled; not counted as an attempt, retried after the short not_dialled delay",
        ),
        CallOutcome.CANCELLED: _d(
            "3.11",
            "the dialer hung up before an answer: the number was not worked to a result; retried",
        ),
        CallOutcome.LOST: _d(
            "3.16",
            "the AMI link dropped and the call was gone on reconnect: it may have rung, result "
            "unknown; a technical fault, retried after the short lost delay (3.21 if it was answered)",
        ),
    }
)


#: Outcomes of calls that never reached the telephone network: the PBX refused the Originate
#: ("Asterisk is shutting down"), the dial plan had no such context or extension, or the link was down
#: when sending. Their attempt row is kept (the audit trail, and the one-open-attempt-per-case guard)
#: with code 3.11, but it is not an attempt against the case: it does not count toward the attempt
#: cap and the case is tried again after the short ``not_dialled`` delay (``dialer.schedule``). A
#: case that never got further is still "not attempted" (3.11) at close, as AAPOR asks.
NOT_DIALLED = frozenset({CallOutcome.FAILED})


def counts_as_attempt(outcome: CallOutcome | str | None) -> bool:
    """Whether a call with this outcome is an attempt against the case (cap, retry delay)."""
    try:
        return outcome is None or CallOutcome(outcome) not in NOT_DIALLED
    except ValueError:
        return True


def temporary_disposition(outcome: CallOutcome) -> Disposition:
    """The AAPOR temporary disposition for one attempt's telephone outcome."""
    return TEMPORARY_DISPOSITIONS[outcome]


def call_disposition(outcome: CallOutcome | str, *, answered: bool = False, cause: int | None = None) -> str:
    """The temporary code of an attempt that ended without an interviewer's code.

    ``answered``: the call was answered at some point (then it is 3.21 whatever ended it, e.g. a
    link lost mid-call). ``cause``: the Q.850 hangup cause; one that names the number's state
    (unallocated 1/3/28: 4.31, changed 22: 4.41) wins over a coarse outcome of an unanswered call.
    """
    try:
        found = CallOutcome(outcome)
    except ValueError:
        raise UnknownCallOutcome(f"unknown call outcome {outcome!r}") from None
    if answered:
        found = CallOutcome.ANSWERED
    elif found is not CallOutcome.ANSWERED and cause is not None:
        by_cause = classify(None, cause)
        if by_cause in (CallOutcome.NON_WORKING, CallOutcome.NUMBER_CHANGED):
            found = by_cause
    return TEMPORARY_DISPOSITIONS[found].code
