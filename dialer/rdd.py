"""Random-digit-dialling sample with a verifiable seed.

Why this shape:

* **Frame.** A district's sampling frame is every number ``prefix + suffix`` for its exchange
  prefixes and a fixed suffix length, minus the 100-banks listed as non-working. Frame numbers
  are put in one canonical order (prefixes sorted as strings, banks ascending, the last two
  digits 00..99), so *frame index* ``i`` names exactly one number.
* **Ordered sample.** The sample is a keyed pseudo-random permutation of the frame: position
  ``j`` of the ordered sample is frame index ``pi(j)``. ``pi`` is a 10-round balanced Feistel
  network whose round function is AES-256 under a key derived from the secret seed, made to fit
  the frame size by cycle-walking (the usual format-preserving-encryption construction). It has
  random access, so any slice ``[start, start + count)`` is computed in O(count) without
  materialising the frame, and it is a permutation, so **disjoint slices never share a number**.
  The dialer service stores one position counter per district and hands out the next slice:
  restarts, several dialer processes (each takes a slice under a row lock) and later replicates
  therefore never repeat a number, and nothing about the sample needs to be stored but the
  counter.
* **Commitment.** Before fieldwork the campaign publishes ``SHA-256`` over a short ASCII text
  naming the seed and the frame (see :func:`commitment_text`); the seed stays secret until close.
  Afterwards anyone can recompute the commitment with ``sha256sum`` and re-generate the sample
  with ``cati rdd generate`` or from the algorithm described in ``docs/dialer-rdd-pacing.md``.
  Seeds are at least 128 bits so the commitment cannot be brute-forced before the reveal.

Pure: numpy and hashing only; the CLI in ``cati.cli.rdd`` does the file and terminal I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "FEISTEL_ROUNDS",
    "MAX_SEED_BYTES",
    "MIN_SEED_BYTES",
    "BankFileError",
    "BankTally",
    "Frame",
    "FrameError",
    "RddError",
    "SampleRangeError",
    "SeedError",
    "bank_ids",
    "campaign_commitment",
    "campaign_commitment_text",
    "commitment",
    "commitment_text",
    "district_seed",
    "format_numbers",
    "generate",
    "iter_replicates",
    "new_seed",
    "normalise_seed",
    "parse_bank_lines",
    "positions",
    "replicate",
    "replicate_bounds",
    "replicate_count",
    "tally_banks",
    "verify",
    "verify_campaign",
]

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FEISTEL_ROUNDS = 10
MIN_SEED_BYTES = 16
MAX_SEED_BYTES = 64
MIN_SUFFIX_DIGITS = 2
MAX_SUFFIX_DIGITS = 10
MAX_NUMBER_DIGITS = 18  # fits int64
MAX_FRAME_SIZE = 1 << 48  # the Feistel tweak carries the frame size in 48 bits

_PERMUTATION_LABEL = b"cati-rdd-v1 permutation"
_DISTRICT_LABEL = b"cati-rdd-v1 district "
_DISTRICT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HEX = re.compile(r"[0-9a-fA-F]*")


class RddError(ValueError):
    """Bad input to the RDD sample: the message names what is wrong."""


class FrameError(RddError):
    """A malformed frame: prefix, suffix length, excluded bank or district code."""


class SeedError(RddError):
    """A seed that is not hex, or too short to keep the commitment secret."""


class SampleRangeError(RddError):
    """A slice outside the ordered sample, e.g. more numbers than the frame holds."""


class BankFileError(RddError):
    """A bad line in a file of excluded banks; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


# --------------------------------------------------------------------------------------- seeds


def new_seed(nbytes: int = 32) -> str:
    """A fresh secret seed (hex) from the operating system's CSPRNG."""
    if not MIN_SEED_BYTES <= nbytes <= MAX_SEED_BYTES:
        raise SeedError(f"a seed has {MIN_SEED_BYTES}..{MAX_SEED_BYTES} bytes, not {nbytes}")
    return secrets.token_hex(nbytes)


def normalise_seed(seed: str) -> str:
    """The canonical (lower-case) hex of a seed; raise :class:`SeedError` if it is not one."""
    if not isinstance(seed, str) or not _HEX.fullmatch(seed):
        raise SeedError("seed must be hexadecimal digits only (0-9, a-f), without 0x or spaces")
    if len(seed) % 2:
        raise SeedError(f"seed must have an even number of hex digits, not {len(seed)}")
    if not MIN_SEED_BYTES * 2 <= len(seed) <= MAX_SEED_BYTES * 2:
        raise SeedError(
            f"seed must have {MIN_SEED_BYTES * 2}..{MAX_SEED_BYTES * 2} hex digits "
            f"({MIN_SEED_BYTES * 8}..{MAX_SEED_BYTES * 8} bits), not {len(seed)}"
        )
    return seed.lower()


def _seed_bytes(seed: str) -> bytes:
    return bytes.fromhex(normalise_seed(seed))


def _check_district_code(code: str) -> str:
    if not isinstance(code, str) or not _DISTRICT_CODE.fullmatch(code):
        raise FrameError(
            f"district code {code!r} must be 1-64 ASCII letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return code


def district_seed(seed: str, district: str) -> str:
    """The seed of one district's stream: HMAC-SHA256(campaign seed, label + district code), hex."""
    msg = _DISTRICT_LABEL + _check_district_code(district).encode("ascii")
    return hmac.new(_seed_bytes(seed), msg, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------- frame


def _check_prefix(prefix: object, suffix_digits: int) -> str:
    if not isinstance(prefix, str) or not prefix.isascii() or not prefix.isdigit():
        raise FrameError(f"malformed prefix {prefix!r}: digits 0-9 only")
    if prefix.startswith("0"):
        raise FrameError(f"malformed prefix {prefix!r}: a subscriber number never starts with 0")
    if len(prefix) + suffix_digits > MAX_NUMBER_DIGITS:
        raise FrameError(
            f"prefix {prefix!r} with {suffix_digits} suffix digits makes numbers longer than "
            f"{MAX_NUMBER_DIGITS} digits"
        )
    return prefix


def _bank_problem(bank: str, prefixes: Iterable[str], suffix_digits: int) -> str | None:
    """Why ``bank`` is not a 100-bank of the frame, or ``None`` if it is one."""
    if not bank.isascii() or not bank.isdigit():
        return f"bank {bank!r} must be digits only"
    for prefix in prefixes:
        if len(bank) == len(prefix) + suffix_digits - 2 and bank.startswith(prefix):
            return None
    return (
        f"bank {bank!r} is not a 100-bank of the frame (a bank is a prefix followed by the first "
        f"{suffix_digits - 2} suffix digits)"
    )


@dataclass(frozen=True)
class Frame:
    """A district's sampling frame: prefixes x suffixes, minus excluded 100-banks.

    Prefixes are kept sorted, so the same set given in any order is the same frame (and the same
    sample and commitment).
    """

    prefixes: tuple[str, ...]
    suffix_digits: int = 4
    excluded_banks: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        s = self.suffix_digits
        if isinstance(s, bool) or not isinstance(s, int) or not MIN_SUFFIX_DIGITS <= s <= MAX_SUFFIX_DIGITS:
            raise FrameError(f"suffix digits must be {MIN_SUFFIX_DIGITS}..{MAX_SUFFIX_DIGITS}, not {s!r}")
        if isinstance(self.prefixes, str):
            raise FrameError("prefixes must be a sequence of strings, not one string")
        prefixes = [_check_prefix(p, s) for p in self.prefixes]
        if not prefixes:
            raise FrameError("a frame needs at least one prefix")
        seen: set[str] = set()
        for p in prefixes:
            if p in seen:
                raise FrameError(f"duplicate prefix {p!r}")
            seen.add(p)
        banks = frozenset(self.excluded_banks)
        for bank in sorted(banks):
            problem = _bank_problem(bank, prefixes, s) if isinstance(bank, str) else f"bank {bank!r}"
            if problem:
                raise FrameError(problem)
        object.__setattr__(self, "prefixes", tuple(sorted(prefixes)))
        object.__setattr__(self, "excluded_banks", banks)
        if self.size == 0:
            raise FrameError("every bank of the frame is excluded: nothing left to sample")
        if self.size > MAX_FRAME_SIZE:
            raise FrameError(f"frame of {self.size} numbers exceeds the limit of {MAX_FRAME_SIZE}")

    # -- shape
    @property
    def banks_per_prefix(self) -> int:
        """How many 100-banks each prefix holds: 10 ** (suffix_digits - 2)."""
        return int(10 ** (self.suffix_digits - 2))

    @cached_property
    def _prefix_values(self) -> Int64Array:
        return np.array([int(p) for p in self.prefixes], dtype=np.int64)

    @cached_property
    def _prefix_order(self) -> Int64Array:
        """Indices that sort the prefix values numerically (lookups from a number)."""
        return np.argsort(self._prefix_values, kind="stable").astype(np.int64)

    @cached_property
    def _excluded_raw(self) -> Int64Array:
        """Raw bank indices (prefix index x banks per prefix + bank in prefix) excluded, sorted."""
        index = {p: i for i, p in enumerate(self.prefixes)}
        raw = []
        for bank in self.excluded_banks:
            for p in self.prefixes:
                if len(bank) == len(p) + self.suffix_digits - 2 and bank.startswith(p):
                    raw.append(index[p] * self.banks_per_prefix + int(bank[len(p) :] or "0"))
                    break
        return np.array(sorted(raw), dtype=np.int64)

    @property
    def size(self) -> int:
        """Numbers in the frame."""
        return (len(self.prefixes) * self.banks_per_prefix - len(self.excluded_banks)) * 100

    # -- canonical encoding
    def canonical_text(self) -> str:
        """The frame as canonical ASCII text (LF line ends); see docs/dialer-rdd-pacing.md."""
        lines = ["cati-rdd-frame v1", f"suffix-digits {self.suffix_digits}"]
        lines += [f"prefix {p}" for p in self.prefixes]
        lines += [f"exclude {b}" for b in sorted(self.excluded_banks)]
        return "\n".join(lines) + "\n"

    def canonical_bytes(self) -> bytes:
        """:meth:`canonical_text` encoded as ASCII."""
        return self.canonical_text().encode("ascii")

    def digest(self) -> str:
        """SHA-256 hex of the canonical bytes (names the frame in a campaign commitment)."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    # -- index <-> number
    def numbers_at(self, index: Int64Array) -> Int64Array:
        """Frame numbers at frame indices (vectorised; indices must be in ``[0, size)``)."""
        idx = np.asarray(index, dtype=np.int64)
        bank, last2 = np.divmod(idx, 100)
        excl = self._excluded_raw
        if excl.size:
            shifted = excl - np.arange(excl.size, dtype=np.int64)
            bank = bank + np.searchsorted(shifted, bank, side="right")
        prefix_i, bank_in_prefix = np.divmod(bank, self.banks_per_prefix)
        scale = np.int64(10**self.suffix_digits)
        out: Int64Array = self._prefix_values[prefix_i] * scale + bank_in_prefix * 100 + last2
        return out

    def indices_of(self, numbers: Int64Array) -> Int64Array:
        """Frame indices of numbers; -1 where a number is not in the frame (vectorised)."""
        nums = np.asarray(numbers, dtype=np.int64)
        scale = np.int64(10**self.suffix_digits)
        head, suffix = np.divmod(nums, scale)
        values = self._prefix_values[self._prefix_order]
        pos = np.clip(np.searchsorted(values, head), 0, values.size - 1)
        ok = (values[pos] == head) & (nums >= 0)
        prefix_i = self._prefix_order[pos]
        bank_in_prefix, last2 = np.divmod(suffix, 100)
        raw = prefix_i * self.banks_per_prefix + bank_in_prefix
        excl = self._excluded_raw
        if excl.size:
            at = np.clip(np.searchsorted(excl, raw), 0, excl.size - 1)
            ok &= excl[at] != raw
            raw = raw - np.searchsorted(excl, raw, side="left")
        out: Int64Array = np.where(ok, raw * 100 + last2, -1).astype(np.int64)
        return out

    def __contains__(self, number: object) -> bool:
        try:
            value = _number_value(number)
        except RddError:
            return False
        return bool(self.indices_of(np.array([value], dtype=np.int64))[0] >= 0)

    def bank_of(self, number: str | int) -> str:
        """The 100-bank of a frame number (the number without its last two digits)."""
        value = _number_value(number)
        if value not in self:
            raise FrameError(f"number {_mask(str(value))} is not in the frame")
        return str(value // 100)


def _number_value(number: object) -> int:
    if isinstance(number, bool):
        raise FrameError("a phone number is digits, not a boolean")
    if isinstance(number, int | np.integer):
        return int(number)
    if isinstance(number, str) and number.isascii() and number.isdigit() and not number.startswith("0"):
        return int(number)
    raise FrameError(f"malformed number {_mask(str(number))}: digits only, not starting with 0")


def _mask(number: str) -> str:
    """A phone number with its last four characters hidden (numbers are personal data)."""
    return number[:-4] + "****" if len(number) > 4 else "****"


def parse_bank_lines(lines: Iterable[str], prefixes: Iterable[str], suffix_digits: int = 4) -> frozenset[str]:
    """Excluded banks from a file's lines (one bank a line; blank lines and ``#`` comments skipped).

    Raises :class:`BankFileError` with the 1-based line number of the first bad line.
    """
    prefix_list = list(prefixes)
    banks: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        problem = _bank_problem(text, prefix_list, suffix_digits)
        if problem:
            raise BankFileError(number, problem)
        banks.add(text)
    return frozenset(banks)


# --------------------------------------------------------------------------------- permutation


@dataclass(frozen=True)
class _Feistel:
    """Keyed permutation of ``[0, size)``: alternating Feistel over 2**bits, cycle-walked.

    ``bits`` is the bit length of ``size - 1`` (at least 2), so the Feistel domain is less than
    twice the frame and cycle-walking costs under two passes on average.
    """

    key: bytes
    size: int

    @property
    def bits(self) -> int:
        return max(2, (self.size - 1).bit_length())

    def _round(self, r: int, half: npt.NDArray[np.uint64], width: int) -> npt.NDArray[np.uint64]:
        """F_r(half): the first 8 bytes of AES-256(key, r | bits | size | half), masked to ``width`` bits."""
        block = np.empty((half.size, 2), dtype=">u8")
        block[:, 0] = (r << 56) | (self.bits << 48) | self.size
        block[:, 1] = half
        encryptor = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        out = np.frombuffer(encryptor.update(block.tobytes()), dtype=">u8").reshape(-1, 2)[:, 0]
        result: npt.NDArray[np.uint64] = out.astype(np.uint64) & np.uint64((1 << width) - 1)
        return result

    def _widths(self) -> tuple[int, int]:
        high = self.bits // 2
        return high, self.bits - high

    def _encrypt(self, x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        wa, wb = self._widths()
        a, b = x >> np.uint64(wb), x & np.uint64((1 << wb) - 1)
        for r in range(FEISTEL_ROUNDS):
            a, b = b, a ^ self._round(r, b, wa)
            wa, wb = wb, wa
        result: npt.NDArray[np.uint64] = (a << np.uint64(wb)) | b
        return result

    def _decrypt(self, y: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        wa, wb = self._widths()  # an even number of rounds ends with the starting widths
        a, b = y >> np.uint64(wb), y & np.uint64((1 << wb) - 1)
        for r in reversed(range(FEISTEL_ROUNDS)):
            wa, wb = wb, wa  # widths before round r
            a, b = b ^ self._round(r, a, wa), a
        result: npt.NDArray[np.uint64] = (a << np.uint64(wb)) | b
        return result

    def _walk(self, x: npt.NDArray[np.uint64], step: str) -> Int64Array:
        fn = self._encrypt if step == "encrypt" else self._decrypt
        y = fn(x)
        limit = np.uint64(self.size)
        todo = np.flatnonzero(y >= limit)
        while todo.size:  # cycle-walking: re-apply until the value falls inside the frame
            y[todo] = fn(y[todo])
            todo = todo[y[todo] >= limit]
        return y.astype(np.int64)

    def forward(self, positions: Int64Array) -> Int64Array:
        """Frame indices at sample positions."""
        return self._walk(np.asarray(positions).astype(np.uint64), "encrypt")

    def inverse(self, indices: Int64Array) -> Int64Array:
        """Sample positions of frame indices."""
        return self._walk(np.asarray(indices).astype(np.uint64), "decrypt")


def _permutation(frame: Frame, seed: str) -> _Feistel:
    key = hmac.new(_seed_bytes(seed), _PERMUTATION_LABEL, hashlib.sha256).digest()
    return _Feistel(key, frame.size)


def generate(frame: Frame, seed: str, count: int, start: int = 0) -> Int64Array:
    """Numbers at positions ``[start, start + count)`` of the ordered sample (int64 array).

    The ordered sample is a permutation of the whole frame fixed by ``seed``: slices that do not
    overlap never share a number, so a service that keeps one position counter per district can
    hand out slices forever without repeats.
    """
    for name, value in (("count", count), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise SampleRangeError(f"{name} must be a whole number >= 0, not {value!r}")
    if start + count > frame.size:
        if start == 0:
            raise SampleRangeError(f"{count} numbers requested but the frame holds only {frame.size}")
        raise SampleRangeError(
            f"positions {start}..{start + count - 1} requested but the frame holds only {frame.size} "
            f"(positions 0..{frame.size - 1})"
        )
    perm = _permutation(frame, seed)
    if count == 0:
        return np.empty(0, dtype=np.int64)
    return frame.numbers_at(perm.forward(np.arange(start, start + count, dtype=np.int64)))


def positions(frame: Frame, seed: str, numbers: Iterable[int] | Int64Array) -> Int64Array:
    """Position of each number in the ordered sample; -1 for a number not in the frame."""
    nums = (
        np.fromiter((int(n) for n in numbers), dtype=np.int64)
        if not isinstance(numbers, np.ndarray)
        else numbers
    )
    idx = frame.indices_of(nums)
    out = np.full(idx.shape, -1, dtype=np.int64)
    inside = idx >= 0
    if inside.any():
        out[inside] = _permutation(frame, seed).inverse(idx[inside])
    return out


def format_numbers(numbers: Int64Array) -> list[str]:
    """Numbers as strings (what the dialer and the CLI print)."""
    return [str(n) for n in np.asarray(numbers).tolist()]


# ---------------------------------------------------------------------------------- replicates


def replicate_count(frame: Frame, replicate_size: int) -> int:
    """How many replicates of ``replicate_size`` the frame yields (the last may be short)."""
    if replicate_size < 1:
        raise SampleRangeError(f"replicate size must be >= 1, not {replicate_size}")
    return -(-frame.size // replicate_size)


def replicate_bounds(frame: Frame, replicate_size: int, index: int) -> tuple[int, int]:
    """Sample positions ``(start, stop)`` of replicate ``index`` (0-based)."""
    n = replicate_count(frame, replicate_size)
    if not 0 <= index < n:
        raise SampleRangeError(f"replicate {index} does not exist: the frame yields replicates 0..{n - 1}")
    start = index * replicate_size
    return start, min(start + replicate_size, frame.size)


def replicate(frame: Frame, seed: str, replicate_size: int, index: int) -> Int64Array:
    """The numbers of replicate ``index``: consecutive, disjoint slices of the ordered sample."""
    start, stop = replicate_bounds(frame, replicate_size, index)
    return generate(frame, seed, stop - start, start)


def iter_replicates(frame: Frame, seed: str, replicate_size: int) -> Iterator[Int64Array]:
    """All replicates in order (lazily)."""
    for i in range(replicate_count(frame, replicate_size)):
        yield replicate(frame, seed, replicate_size, i)


# --------------------------------------------------------------------------------- commitments


def commitment_text(seed: str, frame: Frame) -> str:
    """The committed text for one frame: a header, the seed, then the frame's canonical text."""
    return f"cati-rdd-commitment v1\nseed {normalise_seed(seed)}\n" + frame.canonical_text()


def commitment(seed: str, frame: Frame) -> str:
    """SHA-256 hex of :func:`commitment_text` (what is published before fieldwork)."""
    return hashlib.sha256(commitment_text(seed, frame).encode("ascii")).hexdigest()


def campaign_commitment_text(seed: str, frames: Mapping[str, Frame]) -> str:
    """The committed text for a campaign: the seed, then one line per district sorted by code.

    Each district line is ``district <code> <sha256 of the district frame's canonical text>``;
    the district's own sample uses ``district_seed(seed, code)``.
    """
    if not frames:
        raise FrameError("a campaign needs at least one district frame")
    lines = ["cati-rdd-campaign v1", f"seed {normalise_seed(seed)}"]
    for code in sorted(frames, key=lambda c: _check_district_code(c).encode("ascii")):
        lines.append(f"district {code} {frames[code].digest()}")
    return "\n".join(lines) + "\n"


def campaign_commitment(seed: str, frames: Mapping[str, Frame]) -> str:
    """SHA-256 hex of :func:`campaign_commitment_text`."""
    return hashlib.sha256(campaign_commitment_text(seed, frames).encode("ascii")).hexdigest()


def _same_digest(expected: str, given: str) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("ascii", "replace"))


def verify(seed: str, frame: Frame, commitment_hex: str) -> bool:
    """True only if ``commitment_hex`` is the commitment of ``seed`` and ``frame``."""
    return _same_digest(commitment(seed, frame), commitment_hex)


def verify_campaign(seed: str, frames: Mapping[str, Frame], commitment_hex: str) -> bool:
    """True only if ``commitment_hex`` is the campaign commitment of ``seed`` and ``frames``."""
    return _same_digest(campaign_commitment(seed, frames), commitment_hex)


# ----------------------------------------------------------------------- 100-bank bookkeeping


def bank_ids(numbers: Int64Array) -> Int64Array:
    """The 100-bank of each number as an integer (the number without its last two digits)."""
    out: Int64Array = np.asarray(numbers, dtype=np.int64) // 100
    return out


@dataclass(frozen=True)
class BankTally:
    """Attempts and working numbers per 100-bank; arrays aligned on ``banks`` (ascending)."""

    banks: Int64Array
    attempts: Int64Array
    working_numbers: Int64Array

    def working_rate(self) -> npt.NDArray[np.float64]:
        """Working numbers found per attempt, per bank."""
        rate: npt.NDArray[np.float64] = self.working_numbers / np.maximum(self.attempts, 1)
        return rate

    def dead_banks(self, min_attempts: int = 10) -> list[str]:
        """Banks with at least ``min_attempts`` attempts and no working number (candidates to exclude)."""
        mask = (self.attempts >= min_attempts) & (self.working_numbers == 0)
        return [str(b) for b in self.banks[mask].tolist()]


def tally_banks(numbers: Int64Array, working: BoolArray) -> BankTally:
    """Count attempts and distinct working numbers per bank.

    ``numbers`` has one entry per attempt; ``working[i]`` says whether attempt ``i`` showed the
    number to be working (any outcome but unallocated/non-working). A number attempted several
    times counts once among working numbers.
    """
    nums = np.asarray(numbers, dtype=np.int64)
    ok = np.asarray(working, dtype=bool)
    if nums.shape != ok.shape or nums.ndim != 1:
        raise RddError(f"numbers {nums.shape} and working {ok.shape} must be 1-D and the same length")
    banks, inverse = np.unique(bank_ids(nums), return_inverse=True)
    attempts = np.bincount(inverse, minlength=banks.size).astype(np.int64)
    working_nums = np.unique(nums[ok])
    working_per_bank = np.bincount(
        np.searchsorted(banks, bank_ids(working_nums)), minlength=banks.size
    ).astype(np.int64)
    return BankTally(banks=banks.astype(np.int64), attempts=attempts, working_numbers=working_per_bank)
