"""Edit ids: ULIDs (26 Crockford base-32 characters, sortable by creation time).

Generated here rather than with a ULID package because memedit needs them
*monotonic* within a process: edits added in one batch must sort in the order
they were given, since "the later fact wins" when two edits conflict.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import datetime, timezone

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def new_ulid() -> str:
    """A new ULID, strictly greater than every ULID this process made before."""
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_random + 1
            if rand >= 1 << _RANDOM_BITS:  # 2**80 ids in one millisecond: move on
                ms, rand = ms + 1, secrets.randbits(_RANDOM_BITS - 1)
        else:
            # leave headroom so that increments within one millisecond never overflow
            rand = secrets.randbits(_RANDOM_BITS - 1)
        _last_ms, _last_random = ms, rand
    value = (ms << _RANDOM_BITS) | rand
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(value: str) -> bool:
    """True when ``value`` is a well-formed ULID (upper case)."""
    return bool(_ULID_RE.match(value))


def ulid_datetime(value: str) -> datetime:
    """The creation time encoded in a ULID."""
    number = 0
    for char in value:
        number = number * 32 + _ALPHABET.index(char)
    return datetime.fromtimestamp((number >> _RANDOM_BITS) / 1000, tz=timezone.utc)
