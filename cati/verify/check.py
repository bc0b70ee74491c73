"""``cati verify``: check a verification kit from its own files, in the order of docs/verify.md.

Each check either adds a line to the report or raises :class:`Mismatch` naming the file, the line
or row, and what was expected and found; the first mismatch stops the run. A file that is not a
kit at all raises :class:`NotABundle`. Every message is a (zh-CN, English) pair.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cati.results.report import CellError, rates_report, response_columns, score_responses
from cati.results.table import Table, TableError, parse_table
from cati.verify import layout
from cati.verify.chain import GENESIS_HASH, HASHED_FIELDS, hash_fields
from cati.verify.checkpoint import Checkpoint, CheckpointFileError, fingerprint, parse
from cati.verify.sealed import digest
from dialer import rdd
from questionnaire.loader import InstrumentError, parse_instrument
from questionnaire.model import Instrument

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: A kit larger than this (uncompressed) is refused rather than read into memory.
MAX_BYTES = 4 << 30


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class NotABundle(Exception):
    """Not a kit: unreadable, not a zip, no manifest, unknown format."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.text = Text(zh, en)


class Mismatch(Exception):
    """The first check that failed: ``check`` names it, ``text`` says where and what."""

    def __init__(self, check: Text, zh: str, en: str) -> None:
        super().__init__(en)
        self.check = check
        self.text = Text(zh, en)


@dataclass
class Report:
    """What was checked, one line per check."""

    campaign: str = ""
    lines: list[tuple[Text, Text]] = field(default_factory=list)

    def add(self, check: Text, zh: str, en: str) -> None:
        self.lines.append((check, Text(zh, en)))


C_MANIFEST = Text("清单摘要", "manifest digests")
C_INSTRUMENT = Text("问卷摘要", "instrument digest")
C_SAMPLE = Text("样本承诺与抽样", "sample commitment and draw")
C_DISPOSITIONS = Text("结果代码与 AAPOR 比率", "dispositions and AAPOR rates")
C_SCORES = Text("各区得分", "district scores")
C_DIGEST = Text("结果摘要", "results digest")
C_SIGNOFFS = Text("见证方签字", "witness sign-offs")
C_AUDIT = Text("审计日志与签名检查点", "audit log and signed checkpoints")


def _fail(check: Text, zh: str, en: str) -> Mismatch:
    return Mismatch(check, zh, en)


# ------------------------------------------------------------------------------------ reading


def _open(path: Path) -> dict[str, bytes]:
    """Every member of the zip (names checked), or NotABundle."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if sum(i.file_size for i in infos) > MAX_BYTES:
                raise NotABundle("文件过大，不是核验包", "too large to be a verification kit")
            members: dict[str, bytes] = {}
            for info in infos:
                if info.is_dir():
                    continue
                if info.filename in members:
                    raise NotABundle(
                        f"压缩包中 {info.filename} 出现两次", f"{info.filename} appears twice in the zip"
                    )
                members[info.filename] = zf.read(info)
            return members
    except FileNotFoundError:
        raise NotABundle(f"{path}：文件不存在", f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotABundle(f"{path}：是目录，不是核验包", f"{path}: is a directory, not a kit") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise NotABundle(f"{path}：不是 zip 文件，不是核验包", f"{path}: not a zip file, not a kit") from None
    except (OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise NotABundle(f"{path}：无法读取（{exc}）", f"{path}: cannot read it ({exc})") from None


def _json(check: Text, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeError, json.JSONDecodeError) as exc:
        raise _fail(check, f"{name}：不是 JSON（{exc}）", f"{name}: not JSON ({exc})") from None


def _get(check: Text, name: str, value: Any, *keys: str | int) -> Any:
    """``value[k1][k2]...`` or a mismatch naming the missing field."""
    where = name
    for key in keys:
        where += f"[{key!r}]"
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            raise _fail(check, f"{name}：缺少字段 {where}", f"{name}: field {where} is missing") from None
    return value


def _table(check: Text, name: str, data: bytes, wanted: tuple[str, ...], what: str) -> Table:
    try:
        return parse_table(name, data, wanted, what)
    except TableError as exc:
        raise _fail(check, str(exc), str(exc)) from None


# ------------------------------------------------------------------------------------- checks


@dataclass
class _Kit:
    files: dict[str, bytes]
    plan: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    instrument: Instrument | None = None
    hashes: list[str] = field(default_factory=list)
    public_raw: bytes = b""
    signoffs: list[Any] = field(default_factory=list)
    #: Sign-offs of signoffs.json that the signed log records too (set by the audit step).
    anchored_signoffs: int = 0


def _check_manifest(members: dict[str, bytes], report: Report) -> _Kit:
    if layout.MANIFEST not in members:
        raise NotABundle(
            f"缺少 {layout.MANIFEST}，不是核验包", f"no {layout.MANIFEST}: not a verification kit"
        )
    try:
        manifest = json.loads(members[layout.MANIFEST].decode("utf-8"))
        fmt = manifest["format"]
        listed = manifest["files"]
        entries = {str(f["path"]): str(f["sha256"]) for f in listed}
    except (UnicodeError, json.JSONDecodeError, KeyError, TypeError):
        raise NotABundle(
            f"{layout.MANIFEST} 无法读取，不是核验包", f"{layout.MANIFEST} is unreadable: not a kit"
        ) from None
    if fmt != layout.FORMAT:
        raise NotABundle(
            f"未知格式 {fmt!r}（应为 {layout.FORMAT}）", f"unknown format {fmt!r} (expected {layout.FORMAT})"
        )
    for name in layout.FILES:
        if name not in entries:
            raise _fail(C_MANIFEST, f"清单缺少 {name}", f"the manifest does not list {name}")
    for name, expected in entries.items():
        if name not in members:
            raise _fail(C_MANIFEST, f"清单列出的 {name} 不在包中", f"{name} is listed but not in the kit")
        found = hashlib.sha256(members[name]).hexdigest()
        if found != expected:
            raise _fail(
                C_MANIFEST,
                f"{name}：SHA-256 应为 {expected}（清单），实际为 {found}：文件被改动",
                f"{name}: SHA-256 expected {expected} (manifest), found {found}: the file was changed",
            )
    extra = sorted(set(members) - set(entries) - {layout.MANIFEST})
    if extra:
        raise _fail(C_MANIFEST, f"{extra[0]} 不在清单中", f"{extra[0]} is in the kit but not in the manifest")
    report.add(
        C_MANIFEST, f"{len(entries)} 个文件，摘要全部一致", f"{len(entries)} files, every digest matches"
    )
    kit = _Kit({n: members[n] for n in entries})
    campaign = manifest.get("campaign") or {}
    report.campaign = str(campaign.get("code", "")) if isinstance(campaign, dict) else ""
    return kit


def _check_instrument(kit: _Kit, report: Report) -> None:
    kit.plan = _json(C_INSTRUMENT, layout.PLAN, kit.files[layout.PLAN])
    expected = _get(C_INSTRUMENT, layout.PLAN, kit.plan, "instrument", "sha256")
    data = kit.files[layout.INSTRUMENT]
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise _fail(
            C_INSTRUMENT,
            f"{layout.INSTRUMENT}：SHA-256 应为 {expected}（{layout.PLAN}），实际为 {found}",
            f"{layout.INSTRUMENT}: SHA-256 expected {expected} ({layout.PLAN}), found {found}",
        )
    try:
        kit.instrument = parse_instrument(data.decode("utf-8"), source=layout.INSTRUMENT)
    except (UnicodeError, InstrumentError) as exc:
        raise _fail(
            C_INSTRUMENT, f"{layout.INSTRUMENT} 无法读取：{exc}", f"{layout.INSTRUMENT}: {exc}"
        ) from None
    report.add(C_INSTRUMENT, f"问卷 SHA-256 {found}", f"instrument SHA-256 {found}")


def _check_sample(kit: _Kit, report: Report) -> dict[str, int]:
    c, s = C_SAMPLE, layout.SAMPLE
    kit.sample = _json(c, s, kit.files[s])
    seed = _get(c, s, kit.sample, "seed")
    commitment = _get(c, s, kit.sample, "commitment")
    if kit.plan.get("seed") != seed:
        raise _fail(
            c,
            f"{layout.PLAN} 公布的种子 {kit.plan.get('seed')} 与 {s} 的 {seed} 不同",
            f"{layout.PLAN} reveals seed {kit.plan.get('seed')}, {s} has {seed}",
        )
    if kit.plan.get("seed_commitment") != commitment:
        raise _fail(
            c,
            f"{layout.PLAN} 的承诺 {kit.plan.get('seed_commitment')} 与 {s} 的 {commitment} 不同",
            f"{layout.PLAN} has commitment {kit.plan.get('seed_commitment')}, {s} has {commitment}",
        )
    frames: dict[str, rdd.Frame] = {}
    released: dict[str, int] = {}
    planned = {
        str(d.get("code")): (sorted(d.get("prefixes") or []), d.get("suffix_digits"))
        for d in _get(c, layout.PLAN, kit.plan, "districts")
    }
    for i, d in enumerate(_get(c, s, kit.sample, "districts")):
        code = str(_get(c, s, d, "code"))
        prefixes = _get(c, s, kit.sample, "districts", i, "prefixes")
        suffix = _get(c, s, kit.sample, "districts", i, "suffix_digits")
        if planned.get(code) != (sorted(prefixes), suffix):
            raise _fail(
                c,
                f"{s}：区 {code} 的抽样框与 {layout.PLAN} 公布的不同",
                f"{s}: district {code}'s frame differs from the one {layout.PLAN} publishes",
            )
        try:
            frames[code] = rdd.Frame(tuple(prefixes), suffix, frozenset(d.get("excluded_banks") or ()))
        except rdd.RddError as exc:
            raise _fail(c, f"{s}：区 {code} 的抽样框无效：{exc}", f"{s}: district {code}: {exc}") from None
        released[code] = int(_get(c, s, d, "released"))
    if set(planned) != set(frames):
        raise _fail(c, f"{s} 的区与 {layout.PLAN} 不同", f"{s} lists other districts than {layout.PLAN}")
    try:
        derived = rdd.campaign_commitment(seed, frames)
    except rdd.RddError as exc:
        raise _fail(c, f"{s}：种子无效：{exc}", f"{s}: bad seed: {exc}") from None
    if derived != commitment:
        raise _fail(
            c,
            f"由种子和抽样框重算的承诺为 {derived}，公布的承诺为 {commitment}：种子或抽样框不是事先承诺的",
            f"the commitment re-derived from the seed and frames is {derived}, the published one is "
            f"{commitment}: the seed or the frames are not the ones committed to",
        )
    # Cases: exactly the first N positions of each district's ordered sample.
    table = _table(c, layout.CASES, kit.files[layout.CASES], layout.CASES_COLUMNS, "cases file")
    positions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row, (code, text) in enumerate(
        zip(table.columns["district_code"].tolist(), table.columns["sample_position"].tolist(), strict=True)
    ):
        line = table.lines[row]
        if code not in frames:
            raise _fail(
                c,
                f"{layout.CASES} 第 {line} 行：未知的区 {code!r}",
                f"{layout.CASES} line {line}: unknown district {code!r}",
            )
        if not text.isdigit():
            raise _fail(
                c,
                f"{layout.CASES} 第 {line} 行：样本位置 {text!r} 不是整数",
                f"{layout.CASES} line {line}: sample position {text!r} is not a whole number",
            )
        positions[code].append((int(text), line))
    for code in sorted(frames):
        frame, n = frames[code], released[code]
        got = sorted(positions.get(code, []))
        for expected, (position, line) in enumerate(got):
            if position != expected:
                raise _fail(
                    c,
                    f"{layout.CASES} 第 {line} 行：区 {code} 的样本位置应为 {expected}，实际为 {position}"
                    "（有位置被跳过、重复或挑选）",
                    f"{layout.CASES} line {line}: district {code}: sample position {expected} expected, "
                    f"found {position} (a position skipped, repeated or picked)",
                )
        if len(got) != n:
            raise _fail(
                c,
                f"{layout.CASES}：区 {code} 应有前 {n} 个样本位置的个案（{s}），实际 {len(got)} 个",
                f"{layout.CASES}: district {code} should hold the first {n} sample positions ({s}), "
                f"it holds {len(got)}",
            )
        try:
            numbers = rdd.format_numbers(rdd.generate(frame, rdd.district_seed(seed, code), n))
        except rdd.RddError as exc:
            raise _fail(c, f"区 {code}：{exc}", f"district {code}: {exc}") from None
        expected_digest = _get(
            c, s, next(d for d in kit.sample["districts"] if d["code"] == code), "numbers_sha256"
        )
        if layout.numbers_digest(numbers) != expected_digest:
            raise _fail(
                c,
                f"{s}：区 {code} 拨打的号码摘要 {expected_digest} 与由种子重新生成的前 {n} 个号码不符",
                f"{s}: district {code}: the digest of the numbers dialled ({expected_digest}) is not the "
                f"digest of the first {n} numbers re-generated from the seed",
            )
    total = sum(released.values())
    report.add(
        c,
        f"承诺 {commitment} 由种子重算一致；{len(frames)} 个区共 {total} 个个案，正是各区有序样本的前 N 个",
        f"commitment {commitment} re-derived from the seed; {total} cases in {len(frames)} districts are "
        "exactly the first N of each district's ordered sample",
    )
    return released


def _first_difference(expected: Any, found: Any, path: str = "") -> str | None:
    """Where two JSON values first differ, as a path (``""`` for the whole), or None if equal."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found), key=str):
            if key not in expected or key not in found:
                return f"{path}.{key}"
            inner = _first_difference(expected[key], found[key], f"{path}.{key}")
            if inner is not None:
                return inner
        return None
    if isinstance(expected, list) and isinstance(found, list) and len(expected) == len(found):
        for i, (a, b) in enumerate(zip(expected, found, strict=True)):
            inner = _first_difference(a, b, f"{path}[{i}]")
            if inner is not None:
                return inner
        return None
    return None if expected == found else (path or "(all)")


def _at(value: Any, path: str) -> Any:
    """The value at a ``.key[i]`` path made by :func:`_first_difference` (None if absent)."""
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _compare(
    check: Text, what: Text, expected: Any, found: Any, source: str, first: tuple[str, ...] = ()
) -> None:
    """Raise naming the first differing figure; keys in ``first`` (the counts) are compared first."""
    expected = json.loads(json.dumps(expected))
    found = json.loads(json.dumps(found))
    where = None
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in first:
            where = _first_difference(expected.get(key), found.get(key), f".{key}")
            if where is not None:
                break
    if where is None:
        where = _first_difference(expected, found)
    if where is None:
        return
    a, b = (
        json.dumps(_at(expected, where), ensure_ascii=False),
        json.dumps(_at(found, where), ensure_ascii=False),
    )
    raise _fail(
        check,
        f"{what.zh}{where}：{layout.RESULTS} 为 {a}，由 {source} 重算为 {b}",
        f"{what.en}{where}: {layout.RESULTS} says {a}, recomputed from {source}: {b}",
    )


KINDS = {"final": "最终", "provisional": "暂定"}


def _check_dispositions(kit: _Kit, report: Report) -> None:
    c = C_DISPOSITIONS
    kit.results = _json(c, layout.RESULTS, kit.files[layout.RESULTS])
    table = _table(c, layout.CASES, kit.files[layout.CASES], layout.CASES_COLUMNS, "cases file")
    codes: dict[str, list[str]] = defaultdict(list)
    attempts: dict[str, int] = defaultdict(int)
    for row, (district, code, tries) in enumerate(
        zip(
            table.columns["district_code"].tolist(),
            table.columns["disposition"].tolist(),
            table.columns["attempts"].tolist(),
            strict=True,
        )
    ):
        codes[district].append(code)
        if not tries.isdigit():
            line = table.lines[row]
            raise _fail(
                c,
                f"{layout.CASES} 第 {line} 行：拨打次数 {tries!r} 不是整数",
                f"{layout.CASES} line {line}: attempts {tries!r} is not a whole number",
            )
        attempts[district] += int(tries)
    rows_by_district: dict[str, list[int]] = defaultdict(list)
    for row, district in enumerate(table.columns["district_code"].tolist()):
        rows_by_district[district].append(row)

    def recount(district: str | None) -> dict[str, Any]:
        picked = codes[district] if district is not None else [x for v in codes.values() for x in v]
        try:
            return rates_report(picked)
        except CellError as exc:
            rows = rows_by_district[district] if district is not None else list(range(len(table.lines)))
            line = table.lines[rows[exc.row]]
            raise _fail(
                c,
                f"{layout.CASES} 第 {line} 行，disposition 列：{exc.problem}",
                f"{layout.CASES} line {line}, column disposition: {exc.problem}",
            ) from None

    r = kit.results
    for i, entry in enumerate(_get(c, layout.RESULTS, r, "rates", "districts")):
        code = str(_get(c, layout.RESULTS, entry, "code"))
        mine = recount(code)
        for kind in ("final", "provisional"):
            _compare(
                c,
                Text(f"区 {code} 的{KINDS[kind]}比率 ", f"district {code} {kind} rates "),
                _get(c, layout.RESULTS, r, "rates", "districts", i, kind),
                mine,
                layout.CASES,
                first=("counts", "total"),
            )
    overall = recount(None)
    for kind in ("final", "provisional"):
        _compare(
            c,
            Text(f"全部{KINDS[kind]}比率 ", f"overall {kind} rates "),
            _get(c, layout.RESULTS, r, "rates", "overall", kind),
            overall,
            layout.CASES,
            first=("counts", "total"),
        )
    for i, entry in enumerate(_get(c, layout.RESULTS, r, "counts", "districts")):
        code = str(_get(c, layout.RESULTS, entry, "code"))
        _compare(
            c,
            Text(f"区 {code} 的个案数 ", f"district {code} cases "),
            _get(c, layout.RESULTS, r, "counts", "districts", i, "cases", "total"),
            len(codes[code]),
            layout.CASES,
        )
        _compare(
            c,
            Text(f"区 {code} 的拨打次数 ", f"district {code} attempts "),
            _get(c, layout.RESULTS, r, "counts", "districts", i, "attempts"),
            attempts[code],
            layout.CASES,
        )
    total = sum(len(v) for v in codes.values())
    rr1 = overall.get("RR1")
    report.add(
        c,
        f"{total} 个个案的最终代码重新计数，计数与 AAPOR 比率与结果一致（总 RR1 = {rr1}）",
        f"{total} cases' final codes recounted: counts and AAPOR rates match the results "
        f"(overall RR1 = {rr1})",
    )


def _check_scores(kit: _Kit, report: Report) -> None:
    c = C_SCORES
    assert kit.instrument is not None

    try:
        table = parse_table(
            layout.RESPONSES,
            kit.files[layout.RESPONSES],
            response_columns(kit.instrument),
            "responses file",
            optional=("rule", "valid"),
        )
        scores = score_responses(kit.instrument, table.columns)
    except TableError as exc:
        raise _fail(c, str(exc), str(exc)) from None
    except CellError as exc:
        problem = str(table.fail(exc.row, exc.column, exc.problem))
        raise _fail(c, problem, problem) from None
    stated = _get(c, layout.RESULTS, kit.results, "scores", "districts")
    expected = {str(d.get("district")): d for d in stated}
    found = {str(d["district"]): d for d in scores["districts"]}
    for name in sorted(set(expected) | set(found)):
        if name not in found or name not in expected:
            raise _fail(
                c,
                f"区 {name} 只出现在{'结果' if name in expected else '答卷'}中",
                f"district {name} is only in the {'results' if name in expected else 'responses'}",
            )
        _compare(
            c,
            Text(f"区 {name} 的得分 ", f"district {name} scores "),
            expected[name],
            found[name],
            layout.RESPONSES,
            first=("valid", "invalid", "score"),
        )
    rule = kit.instrument.policy.label
    report.add(
        c,
        f"{len(table.lines)} 份问卷，按规则 {rule} 重算 {len(found)} 个区的得分，与结果一致",
        f"{len(table.lines)} questionnaires: {len(found)} district scores recomputed under rule {rule} "
        "match the results",
    )


def _check_digest(kit: _Kit, report: Report) -> str:
    c = C_DIGEST
    stated = _get(c, layout.RESULTS, kit.results, "sealed", "sha256")
    body = {k: v for k, v in kit.results.items() if k != "sealed"}
    found = digest(body)
    if found != stated:
        raise _fail(
            c,
            f"{layout.RESULTS}：摘要应为 {stated}，规范 JSON 的 SHA-256 为 {found}",
            f"{layout.RESULTS}: digest {stated} stated, the canonical JSON's SHA-256 is {found}",
        )
    report.add(c, f"结果摘要 {found}", f"results digest {found}")
    return found


def _check_signoffs(kit: _Kit, report: Report, results_digest: str) -> None:
    c = C_SIGNOFFS
    items = _json(c, layout.SIGNOFFS, kit.files[layout.SIGNOFFS])
    if not isinstance(items, list):
        raise _fail(c, f"{layout.SIGNOFFS} 不是列表", f"{layout.SIGNOFFS} is not a list")
    for i, item in enumerate(items):
        signed = _get(c, layout.SIGNOFFS, items, i, "results_sha256")
        if signed != results_digest:
            who = item.get("party", "?") if isinstance(item, dict) else "?"
            raise _fail(
                c,
                f"{layout.SIGNOFFS} 第 {i + 1} 项（{who}）签署的摘要 {signed} 不是结果摘要 {results_digest}",
                f"{layout.SIGNOFFS} item {i + 1} ({who}) signed digest {signed}, not the results digest "
                f"{results_digest}",
            )
    kit.signoffs = items
    report.add(
        c,
        f"{len(items)} 个签字，签署的摘要均为结果摘要",
        f"{len(items)} sign-offs, all on the results digest",
    )


def _public_raw(pem: bytes) -> bytes:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnicodeError):
        raise _fail(
            C_AUDIT, f"{layout.PUBLIC_KEY} 不是 PEM 公钥", f"{layout.PUBLIC_KEY} is not a PEM public key"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise _fail(
            C_AUDIT, f"{layout.PUBLIC_KEY} 不是 Ed25519 公钥", f"{layout.PUBLIC_KEY} is not an Ed25519 key"
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_audit(kit: _Kit, report: Report, results_digest: str) -> None:
    """The chain, the bundled checkpoints and key, the anchors; keeps the hashes for step 9."""
    c, name = C_AUDIT, layout.AUDIT_LOG
    hashes: list[str] = []  # entry n's hash at index n - 1 (the entries themselves are not kept)
    campaign_id = str(kit.plan.get("id"))
    mine: list[dict[str, Any]] = []  # the campaign's own entries, for the anchors
    sealed_count = 0
    prev = GENESIS_HASH
    for number, raw in enumerate(kit.files[name].split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
            if not isinstance(entry, dict):
                raise TypeError(type(entry).__name__)
            redacted = entry.get("redacted") is True
            needed = ("seq", "prev_hash", "hash") if redacted else (*HASHED_FIELDS, "hash")
            missing = [f for f in needed if f not in entry]
        except (UnicodeError, json.JSONDecodeError, TypeError):
            raise _fail(
                c, f"{name} 第 {number} 行不是 JSON 对象", f"{name} line {number}: not a JSON object"
            ) from None
        if missing:
            raise _fail(
                c, f"{name} 第 {number} 行缺少 {missing[0]}", f"{name} line {number}: {missing[0]} missing"
            )
        expected_seq = len(hashes) + 1
        if entry["seq"] != expected_seq:
            raise _fail(
                c,
                f"{name} 第 {number} 行：序号应为 {expected_seq}，实际为 {entry['seq']}（条目缺失或错位）",
                f"{name} line {number}: seq {expected_seq} expected, found {entry['seq']} "
                "(entry missing or moved)",
            )
        if entry["prev_hash"] != prev:
            raise _fail(
                c,
                f"{name} 第 {number} 行（第 {expected_seq} 条）：前一哈希应为 {prev}，"
                f"实际为 {entry['prev_hash']}",
                f"{name} line {number} (entry {expected_seq}): previous hash {prev} expected, found "
                f"{entry['prev_hash']}",
            )
        if redacted:
            # Hash only (an interview's entry): its content is committed, not disclosed; the next
            # entry's prev_hash and every hash after it up to the signed head still cover it.
            if not isinstance(entry["hash"], str) or not _HEX64.fullmatch(entry["hash"]):
                raise _fail(
                    c,
                    f"{name} 第 {number} 行：hash 不是 64 位十六进制",
                    f"{name} line {number}: hash is not 64 hex digits",
                )
            sealed_count += 1
            prev = entry["hash"]
            hashes.append(entry["hash"])
            continue
        try:
            recomputed = hash_fields(entry)
        except (TypeError, ValueError, AttributeError):
            recomputed = ""
        if recomputed != entry["hash"]:
            raise _fail(
                c,
                f"{name} 第 {number} 行（第 {expected_seq} 条）：内容与哈希不符，重算为 {recomputed}，"
                f"记载为 {entry['hash']}",
                f"{name} line {number} (entry {expected_seq}): content does not match its hash: recomputed "
                f"{recomputed}, stored {entry['hash']}",
            )
        prev = entry["hash"]
        hashes.append(entry["hash"])
        if entry["object_type"] == "campaign" and entry["object_id"] == campaign_id:
            mine.append(entry)
    public_raw = _public_raw(kit.files[layout.PUBLIC_KEY])
    shown = kit.files[layout.FINGERPRINT].decode("ascii", "replace").strip()
    if shown != fingerprint(public_raw):
        raise _fail(
            c,
            f"{layout.FINGERPRINT}：指纹 {shown} 与公钥的指纹 {fingerprint(public_raw)} 不符",
            f"{layout.FINGERPRINT}: fingerprint {shown} is not the public key's {fingerprint(public_raw)}",
        )
    listed = _json(c, layout.CHECKPOINTS, kit.files[layout.CHECKPOINTS])
    if not isinstance(listed, list) or not listed:
        raise _fail(c, f"{layout.CHECKPOINTS} 中没有检查点", f"{layout.CHECKPOINTS} holds no checkpoint")
    checkpoints: list[Checkpoint] = []
    for i, data in enumerate(listed, start=1):
        try:
            cp = parse(json.dumps(data))
        except CheckpointFileError as exc:
            raise _fail(
                c, f"{layout.CHECKPOINTS} 第 {i} 个：{exc}", f"{layout.CHECKPOINTS} #{i}: {exc}"
            ) from None
        if bytes.fromhex(cp.public_key) != public_raw:
            raise _fail(
                c,
                f"{layout.CHECKPOINTS} 第 {i} 个由另一把密钥签名（指纹 {cp.key_fingerprint}）",
                f"{layout.CHECKPOINTS} #{i} is signed by another key (fingerprint {cp.key_fingerprint})",
            )
        if not cp.signature_ok():
            raise _fail(
                c,
                f"{layout.CHECKPOINTS} 第 {i} 个的签名无效",
                f"{layout.CHECKPOINTS} #{i}: the signature does not verify",
            )
        if cp.size > len(hashes):
            raise _fail(
                c,
                f"{name} 只有 {len(hashes)} 条，而检查点 {i} 覆盖 {cp.size} 条：日志被截短",
                f"{name} holds {len(hashes)} entries but checkpoint #{i} covers {cp.size}: "
                "the log was truncated",
            )
        head = GENESIS_HASH if cp.size == 0 else hashes[cp.size - 1]
        if head != cp.head_hash:
            raise _fail(
                c,
                f"{name} 第 {cp.size} 条的哈希 {head} 与检查点 {i} 签名的 {cp.head_hash} 不同",
                f"{name} entry {cp.size} has hash {head}, checkpoint #{i} signed {cp.head_hash}",
            )
        checkpoints.append(cp)
    final = max(checkpoints, key=lambda cp: cp.size)
    if final.size != len(hashes):
        raise _fail(
            c,
            f"{name} 有 {len(hashes)} 条，但最后的检查点只覆盖 {final.size} 条",
            f"{name} holds {len(hashes)} entries but the last checkpoint covers only {final.size}",
        )
    _check_anchors(kit, mine, results_digest)
    report.add(
        c,
        f"{len(hashes)} 条审计记录哈希链完整（其中 {sealed_count} 条访问记录只含哈希，不公开答案），"
        f"{len(checkpoints)} 个检查点签名有效（密钥指纹 {shown}）；"
        "承诺、公布的种子与结果摘要均记入已签名的日志；"
        f"{len(kit.signoffs)} 个签字中 {kit.anchored_signoffs} 个也已记入",
        f"{len(hashes)} audit entries chain intact ({sealed_count} interview entries as hash only, answers "
        f"not disclosed), {len(checkpoints)} checkpoint signatures valid (key {shown}); the commitment, the "
        "revealed seed and the results digest are in the signed log; "
        f"{kit.anchored_signoffs} of {len(kit.signoffs)} sign-offs too",
    )
    kit.hashes, kit.public_raw = hashes, public_raw


C_WITNESS = Text("见证方保存的检查点与密钥指纹", "the witness's own checkpoints and key fingerprint")


def _check_witness(
    kit: _Kit, report: Report, own: Sequence[tuple[str, str]], expected_fp: str | None
) -> None:
    """Checkpoints a witness kept outside the service, and the fingerprint written down at the start:
    the kit's log must extend each, and its key must be the one whose fingerprint was noted."""
    c, name = C_WITNESS, layout.AUDIT_LOG
    found_fp = fingerprint(kit.public_raw)
    if expected_fp is not None and expected_fp.strip().lower() != found_fp:
        raise _fail(
            c,
            f"包中公钥的指纹为 {found_fp}，不是记下的 {expected_fp.strip()}",
            f"the kit's key has fingerprint {found_fp}, not the one written down ({expected_fp.strip()})",
        )
    for source, text in own:
        try:
            cp = parse(text)
        except CheckpointFileError as exc:
            raise _fail(c, f"{source}：{exc}", f"{source}: {exc}") from None
        if not cp.signature_ok():
            raise _fail(c, f"{source}：签名无效", f"{source}: the signature does not verify")
        if bytes.fromhex(cp.public_key) != kit.public_raw:
            raise _fail(
                c,
                f"{source} 由另一把密钥签名（指纹 {cp.key_fingerprint}），包中密钥的指纹为 {found_fp}",
                f"{source} is signed by another key (fingerprint {cp.key_fingerprint}) than the kit's "
                f"({found_fp})",
            )
        if cp.size > len(kit.hashes):
            raise _fail(
                c,
                f"{source} 覆盖 {cp.size} 条，而 {name} 只有 {len(kit.hashes)} 条：日志被截短",
                f"{source} covers {cp.size} entries but {name} holds {len(kit.hashes)}: the log was cut",
            )
        head = GENESIS_HASH if cp.size == 0 else kit.hashes[cp.size - 1]
        if head != cp.head_hash:
            raise _fail(
                c,
                f"{name} 第 {cp.size} 条的哈希 {head} 与 {source} 签名的 {cp.head_hash} 不同：日志被改写",
                f"{name} entry {cp.size} has hash {head}, {source} signed {cp.head_hash}: "
                "the log was rewritten",
            )
    parts_zh, parts_en = [], []
    if expected_fp is not None:
        parts_zh.append("密钥指纹与记下的一致")
        parts_en.append("the key's fingerprint is the one written down")
    if own:
        parts_zh.append(f"日志延续见证方保存的 {len(own)} 个检查点")
        parts_en.append(f"the log extends the {len(own)} checkpoint(s) the witness kept")
    report.add(c, "；".join(parts_zh), "; ".join(parts_en))


def _check_anchors(kit: _Kit, mine: list[dict[str, Any]], results_digest: str) -> None:
    """The published commitment, the revealed seed and the results digest are in the signed log."""
    c, name = C_AUDIT, layout.AUDIT_LOG
    details = [e["details"] if isinstance(e["details"], dict) else {} for e in mine]
    wanted = (
        (
            "campaign.status_changed",
            "seed_commitment",
            kit.sample.get("commitment"),
            Text("公布时的样本承诺", "the sample commitment at publication"),
        ),
        (
            "campaign.status_changed",
            "seed_revealed",
            kit.sample.get("seed"),
            Text("结束时公布的种子", "the seed revealed at close"),
        ),
        (
            "campaign.closed",
            "results_sha256",
            results_digest,
            Text("结束时的结果摘要", "the results digest at close"),
        ),
    )
    for action, key, value, what in wanted:
        logged = [d[key] for e, d in zip(mine, details, strict=True) if e["action"] == action and key in d]
        if not logged:
            raise _fail(c, f"{name} 中没有{what.zh}", f"{name} has no entry with {what.en}")
        if logged[-1] != value:
            raise _fail(
                c,
                f"{name} 记载的{what.zh}为 {logged[-1]}，包中为 {value}",
                f"{name} records {what.en} as {logged[-1]}, the kit has {value}",
            )
    # Sign-offs: each one the signed log records must be in signoffs.json (none dropped); those
    # given after the last checkpoint are not in the log yet and rest on the digest check alone.
    def ident(d: dict[str, Any]) -> tuple[str, str, str]:
        return (str(d.get("party")), str(d.get("name")), str(d.get("results_sha256")))

    listed = {ident(item) for item in kit.signoffs if isinstance(item, dict)}
    for e, d in zip(mine, details, strict=True):
        if e["action"] == "results.signed" and ident(d) not in listed:
            raise _fail(
                c,
                f"{name} 第 {e['seq']} 条记载了 {d.get('party')}（{d.get('name')}）的签字，"
                f"{layout.SIGNOFFS} 中没有",
                f"{name} entry {e['seq']} records the sign-off of {d.get('party')} ({d.get('name')}), "
                f"missing from {layout.SIGNOFFS}",
            )
    signed = [d for e, d in zip(mine, details, strict=True) if e["action"] == "results.signed"]
    logged_signoffs = {ident(d) for d in signed}
    kit.anchored_signoffs = len(listed & logged_signoffs)


def verify_bundle(
    path: Path, *, own_checkpoints: Sequence[tuple[str, str]] = (), key_fingerprint: str | None = None
) -> Report:
    """Run every check in order; raise NotABundle or the first Mismatch.

    ``own_checkpoints``: (name, JSON text) of checkpoints a witness saved; ``key_fingerprint``: the
    one written down at the start of fieldwork. Both are checked last, when given.
    """
    report = Report()
    kit = _check_manifest(_open(path), report)
    results_digest = ""
    steps: list[tuple[Text, Callable[[], object]]] = [
        (C_INSTRUMENT, lambda: _check_instrument(kit, report)),
        (C_SAMPLE, lambda: _check_sample(kit, report)),
        (C_DISPOSITIONS, lambda: _check_dispositions(kit, report)),
        (C_SCORES, lambda: _check_scores(kit, report)),
        (C_DIGEST, lambda: _check_digest(kit, report)),
        (C_SIGNOFFS, lambda: _check_signoffs(kit, report, results_digest)),
        (C_AUDIT, lambda: _check_audit(kit, report, results_digest)),
    ]
    if own_checkpoints or key_fingerprint is not None:
        steps.append((C_WITNESS, lambda: _check_witness(kit, report, own_checkpoints, key_fingerprint)))
    for check, step in steps:
        try:
            found = step()
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            # A file whose JSON has another shape than the format's: named, never a traceback.
            raise _fail(
                check,
                f"包中文件的结构不符合 {layout.FORMAT}：{type(exc).__name__}: {exc}",
                f"a file of the kit does not have the shape of {layout.FORMAT}: {type(exc).__name__}: {exc}",
            ) from None
        if check is C_DIGEST:
            results_digest = str(found)
    return report
