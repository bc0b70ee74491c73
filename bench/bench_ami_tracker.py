"""Client-side micro-benchmark: AttemptTracker throughput (AMI events/s), sans I/O.

Replays real Asterisk 22 captures (answered, busy, congestion, no answer, unallocated) for N concurrent
attempts, interleaved round-robin, and prints events/s and the time per attempt. Run:
    .venv/bin/python bench/bench_ami_tracker.py [N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dialer.ami.outcomes import AttemptPhase, AttemptTracker
from dialer.ami.protocol import AmiMessage, parse_stream

CAPTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami-captures"
TEMPLATES = ["answered-1", "busy-1", "congestion-1", "noanswer-1", "unallocated-1"]


def _template(name: str) -> tuple[list[AmiMessage], str, str, str]:
    msgs = parse_stream((CAPTURES / f"{name}.txt").read_bytes())
    leg1 = next(m["Uniqueid"] for m in msgs if m.event == "Newchannel" and m["Channel"].endswith(";1"))
    leg2 = next(m["Uniqueid"] for m in msgs if m.event == "Newchannel" and m["Channel"].endswith(";2"))
    action_id = next(m.action_id for m in msgs if m.action_id)
    assert action_id is not None
    return msgs, leg1, leg2, action_id


def main(n: int) -> None:
    templates = [_template(t) for t in TEMPLATES]
    streams: list[list[AmiMessage]] = []
    tracker = AttemptTracker()
    for i in range(n):
        msgs, leg1, leg2, action_id = templates[i % len(templates)]
        mapping = {leg1: f"att{i}-a", leg2: f"att{i}-b", action_id: f"act{i}"}
        streams.append([AmiMessage(tuple((k, mapping.get(v, v)) for k, v in m.headers)) for m in msgs])
        tracker.register(f"att{i}", channel_id=f"att{i}-a", other_channel_id=f"att{i}-b", action_id=f"act{i}")
    interleaved: list[AmiMessage] = []
    longest = max(len(s) for s in streams)
    for j in range(longest):
        interleaved.extend(s[j] for s in streams if j < len(s))
    start = time.perf_counter()
    ended = 0
    for m in interleaved:
        for u in tracker.feed(m):
            ended += u.phase is AttemptPhase.ENDED
    elapsed = time.perf_counter() - start
    left = len(tracker.open_attempts())
    print(f"attempts: {n}, events: {len(interleaved)}, ended: {ended}, open left: {left}")
    print(f"tracker: {len(interleaved) / elapsed:,.0f} events/s, {elapsed / n * 1e6:.1f} us per attempt")
    per_call = len(interleaved) / n
    print(f"= {n / elapsed:,.0f} whole calls/s at {per_call:.0f} events per call "
          f"({n / elapsed / 20:.0f}x the issue's 20 originates/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
