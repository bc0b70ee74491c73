"""AMI throughput against the simulated PBX over TCP (issue 4, item 8).

Starts ``cati simpbx`` in its own process (real time, speed 1, so event Timestamps are wall-clock
epoch seconds), connects a raw asyncio client built on ``dialer.ami.protocol``, fires a burst of
Async originates with ChannelId set, hangs up every answered call a moment later, and measures:
originates acknowledged per second, events handled per second, event lag (receive time minus the
event's Timestamp) p50/p99, the peak of concurrent calls, and whether every call got its final
events (OriginateResponse and a Hangup for each of its channels).

Run: ``.venv/bin/python bench/bench_ami.py [--calls 500]`` (about 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
from pathlib import Path

from dialer.ami.protocol import AmiMessage
from dialer.simpbx.rawclient import RawAmiClient


async def main(calls: int, seed: int) -> int:
    cati = Path(sys.executable).parent / "cati"
    proc = await asyncio.create_subprocess_exec(
        str(cati),
        "simpbx",
        "--port",
        "0",
        "--username",
        "bench",
        "--secret",
        "bench",
        "--seed",
        str(seed),
        "--speed",
        "1",  # no --start: the simulated clock starts at the wall clock, so lag is real
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.search(r"listening on ([\d.]+):(\d+)", line)
    if not match:
        print("simpbx did not start:", line)
        return 1
    host, port = match.group(1), int(match.group(2))

    lags: list[float] = []
    events = 0
    first_event = last_event = 0.0
    acked: dict[str, float] = {}
    responses: dict[str, str] = {}
    open_channels: dict[str, set[str]] = {}
    finished: set[str] = set()
    live: set[str] = set()
    peak = 0
    per_second: dict[int, int] = {}
    client = RawAmiClient()

    def on_message(m: AmiMessage, now: float) -> None:
        nonlocal events, first_event, last_event, peak
        if m.event is None:
            if m.response == "Success" and (m.action_id or "").startswith("o-"):
                cid = m.action_id[2:]  # type: ignore[index]
                acked[cid] = now
                live.add(cid)
                peak = max(peak, len(live))
            return
        events += 1
        per_second[int(now)] = per_second.get(int(now), 0) + 1
        first_event = first_event or now
        last_event = now
        stamp = m.get("Timestamp")
        if stamp:
            lags.append(now - float(stamp))
        uid = m.get("Uniqueid") or ""
        cid = uid.removesuffix(";2")
        if m.event == "Newchannel" and cid in acked:
            open_channels.setdefault(cid, set()).add(uid)
        elif m.event == "OriginateResponse" and cid in acked:
            responses[cid] = m["Reason"]
            if m["Reason"] == "4":  # answered: the interviewer would take it; hang up a bit later
                asyncio.get_running_loop().call_later(1.0, client.send, "Hangup", ("Channel", cid))
        elif m.event == "Hangup" and cid in open_channels:
            open_channels[cid].discard(uid)
            if not open_channels[cid]:
                finished.add(cid)
        if cid in finished and cid in responses:
            live.discard(cid)

    client.on_message = on_message
    await client.connect(host, port)
    await client.login("bench", "bench")
    rng = random.Random(seed)
    numbers = [f"2{rng.randrange(10**6, 10**7)}" for _ in range(calls)]
    t0 = time.time()
    for i, number in enumerate(numbers):
        cid = f"bench-{i}"
        client.send(
            "Originate",
            ("Variable", f"CASEID={i}"),
            ActionID=f"o-{cid}",
            Channel=f"Local/{number}@respondents",
            Context="cati-hold",
            Exten="s",
            Priority="1",
            CallerID="CATI <0200000000>",
            Timeout="20000",
            Async="true",
            ChannelId=cid,
        )
        if i % 50 == 49:
            await asyncio.sleep(0)  # let the reader run, as a real dialer loop would
    while len(acked) < calls and time.time() - t0 < 30:
        await asyncio.sleep(0.01)
    t_acked = time.time()
    deadline = t0 + 90
    while (len(finished) < calls or len(responses) < calls) and time.time() < deadline:
        await asyncio.sleep(0.1)
    await client.close()
    proc.terminate()
    await proc.wait()

    lost = calls - len(finished & set(responses))
    rate = len(acked) / max(t_acked - t0, 1e-9)
    ev_rate = events / max(last_event - first_event, 1e-9)
    lags_ms = sorted(x * 1000 for x in lags)
    p50 = statistics.median(lags_ms)
    p99 = lags_ms[int(len(lags_ms) * 0.99) - 1]
    reasons: dict[str, int] = {}
    for r in responses.values():
        reasons[r] = reasons.get(r, 0) + 1
    print(f"AMI throughput against the simulated PBX over TCP ({calls} async originates, burst)")
    print(f"  originates acknowledged per second : {rate:10.1f}   (target >= 20, ratio {rate / 20:.1f}x)")
    print(
        f"  events handled per second          : {ev_rate:10.1f}   "
        f"({events} events in {last_event - first_event:.1f} s, mean over the run)"
    )
    print(f"  events handled, busiest second     : {max(per_second.values()):10d}")
    print(f"  event lag p50 / p99                : {p50:8.2f} ms / {p99:.2f} ms")
    print(f"  peak concurrent calls              : {peak:10d}   (target >= 250, ratio {peak / 250:.2f})")
    print(f"  calls missing a final event        : {lost:10d}   (target 0)")
    print(f"  OriginateResponse reasons          : {dict(sorted(reasons.items()))}")
    ok = rate >= 20 and peak >= 250 and lost == 0
    print("  verdict                            :", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.calls, args.seed)))
