"""``cati verify`` on a kit the size of a real survey (issue 9, item 5).

Builds a synthetic but consistent kit in memory — the Zibo shape by default: 8 districts, 300
questionnaires each (2,400), about 12 cases per questionnaire, and an audit log of about 80
entries per questionnaire (one per key press and call event, as the service writes) — then times
``cati.verify.check.verify_bundle`` on it and prints the kit's size and the time of each part.

Run: ``.venv/bin/python bench/bench_verify.py [--districts 8 --per-district 300]`` (about a minute).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import random
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cati.results.report import rates_report, score_responses
from cati.verify import layout
from cati.verify.chain import GENESIS_HASH, format_at, hash_fields
from cati.verify.check import verify_bundle
from cati.verify.checkpoint import fingerprint, signed_bytes
from cati.verify.sealed import digest
from dialer import rdd
from questionnaire.loader import default_instrument

ANSWERS = ["good", "fairly_good", "average", "poor"]
INSTRUMENT = Path(__file__).resolve().parent.parent / "questionnaire" / "instruments" / "satisfaction.yaml"


def build(districts: int, per_district: int, seed_text: int) -> bytes:
    rng = random.Random(seed_text)
    instrument = default_instrument()
    instrument_text = INSTRUMENT.read_bytes()
    seed = rdd.new_seed()
    codes = [f"d{i:02d}" for i in range(districts)]
    frames = {c: rdd.Frame((f"{5 + i}180", f"{5 + i}181"), 4) for i, c in enumerate(codes)}
    commitment = rdd.campaign_commitment(seed, frames)
    cases_rows: list[list[str]] = []
    responses: list[dict[str, str]] = []
    sample_districts = []
    rate_districts, count_districts = [], []
    all_codes: list[str] = []
    for code in codes:
        n = per_district * 12
        numbers = rdd.format_numbers(rdd.generate(frames[code], rdd.district_seed(seed, code), n))
        dispositions = ["1.1"] * per_district + [
            rng.choice(["2.11", "2.12", "3.13", "4.32", "3.11"]) for _ in range(n - per_district)
        ]
        rng.shuffle(dispositions)
        attempts = 0
        for pos, disp in enumerate(dispositions):
            tries = 0 if disp == "3.11" else rng.randint(1, 6)
            attempts += tries
            cases_rows.append([code, rng.choice(["staff", "resident"]), str(pos), disp, str(tries)])
        for _ in range(per_district):
            row = {"district": f"区{code}", "stratum": rng.choice(["staff", "resident"])}
            row.update({item: rng.choice(ANSWERS) for item in ["overall", *[f"q{i}" for i in range(1, 11)]]})
            row.update({"valid": "1", "rule": instrument.policy.label})
            responses.append(row)
        sample_districts.append(
            {
                "code": code,
                "prefixes": list(frames[code].prefixes),
                "suffix_digits": 4,
                "excluded_banks": [],
                "released": n,
                "numbers_sha256": layout.numbers_digest(numbers),
            }
        )
        rates = rates_report(dispositions)
        rate_districts.append({"code": code, "final": rates, "provisional": rates})
        count_districts.append({"code": code, "cases": {"total": n}, "attempts": attempts})
        all_codes += dispositions
    header = list(responses[0])
    columns = {h: [r[h] for r in responses] for h in header}
    overall = rates_report(all_codes)
    results: dict[str, Any] = {
        "campaign": {"id": 1, "code": "bench"},
        "scores": score_responses(instrument, columns),
        "rates": {"overall": {"final": overall, "provisional": overall}, "districts": rate_districts},
        "counts": {"districts": count_districts},
    }
    results_digest = digest(results)
    results["sealed"] = {"sha256": results_digest}

    # the audit log: key presses, with the three anchors
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    lines: list[bytes] = []
    prev = GENESIS_HASH
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    total = districts * per_district * 80
    anchors = {
        1: ("campaign.status_changed", {"to": "published", "seed_commitment": commitment}),
        total - 1: ("campaign.closed", {"results_sha256": results_digest}),
        total: ("campaign.status_changed", {"to": "closed", "seed_revealed": seed}),
    }
    for seq in range(1, total + 1):
        at += dt.timedelta(milliseconds=700)
        action, details = anchors.get(
            seq,
            (
                "interview.answer",
                {
                    "item": "q3",
                    "ledger": [["answer_events", seq, hashlib.sha256(str(seq).encode()).hexdigest()]],
                },
            ),
        )
        entry = {
            "seq": seq,
            "at": format_at(at),
            "actor": "iv07",
            "action": action,
            "object_type": "campaign" if seq in anchors else "interview",
            "object_id": "1" if seq in anchors else str(seq // 80),
            "details": details,
            "prev_hash": prev,
        }
        entry["hash"] = prev = hash_fields(entry)
        lines.append(
            json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        )
    at_text = format_at(at)
    checkpoint = {
        "format": "cati-audit-checkpoint/1",
        "size": total,
        "head_hash": prev,
        "at": at_text,
        "public_key": public.hex(),
        "key_fingerprint": fingerprint(public),
        "signature": key.sign(signed_bytes(total, prev, at_text)).hex(),
    }
    plan = {
        "id": 1,
        "code": "bench",
        "instrument": {"name": "satisfaction.yaml", "sha256": hashlib.sha256(instrument_text).hexdigest()},
        "seed": seed,
        "seed_commitment": commitment,
        "districts": [{"code": c, "prefixes": list(frames[c].prefixes), "suffix_digits": 4} for c in codes],
    }

    def csv_bytes(head: list[str], rows: list[list[str]]) -> bytes:
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(head)
        w.writerows(rows)
        return buf.getvalue().encode()

    def js(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, indent=2).encode()

    files = {
        layout.PLAN: js(plan),
        layout.INSTRUMENT: instrument_text,
        layout.SAMPLE: js({"commitment": commitment, "seed": seed, "districts": sample_districts}),
        layout.CASES: csv_bytes(list(layout.CASES_COLUMNS), cases_rows),
        layout.RESPONSES: csv_bytes(header, [[r[h] for h in header] for r in responses]),
        layout.RESULTS: js(results),
        layout.AUDIT_LOG: b"".join(lines),
        layout.CHECKPOINTS: js([checkpoint]),
        layout.PUBLIC_KEY: key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        layout.FINGERPRINT: (fingerprint(public) + "\n").encode(),
        layout.SIGNOFFS: js(
            [{"party": "公证处", "name": "n", "signed_at": at_text, "digest": results_digest}]
        ),
    }
    manifest = {
        "format": layout.FORMAT,
        "campaign": {"id": 1, "code": "bench"},
        "files": [
            {"path": k, "sha256": hashlib.sha256(v).hexdigest(), "bytes": len(v)} for k, v in files.items()
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(layout.MANIFEST, js(manifest))
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=8)
    parser.add_argument("--per-district", type=int, default=300)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = build(args.districts, args.per_district, args.seed)
    built = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kit.zip"
        path.write_bytes(data)
        t1 = time.perf_counter()
        report = verify_bundle(path)
        took = time.perf_counter() - t1
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        raw = sum(i.file_size for i in zf.infolist())
        log = zf.getinfo(layout.AUDIT_LOG)
    print(
        f"kit: {args.districts} districts x {args.per_district} questionnaires, "
        f"{len(data) / 1e6:.1f} MB zipped ({raw / 1e6:.1f} MB unzipped; "
        f"audit log {log.file_size / 1e6:.1f} MB -> {log.compress_size / 1e6:.1f} MB)"
    )
    print(f"synthetic kit built in {built:.1f} s")
    print(f"cati verify: {took:.1f} s, {len(report.lines)} checks passed")
    for check, text in report.lines:
        print(f"  {check('en')}: {text('en')[:110]}")


if __name__ == "__main__":
    main()
