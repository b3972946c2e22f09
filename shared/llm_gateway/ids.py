"""Random identifiers for requests, completions and leases.

``uuid.uuid4()`` asks the kernel for randomness on every call; on the request path that is a system call
per id, which costs tens of microseconds on a virtual machine that has just woken up. These ids need to
be unique, not secret (they grant nothing), so they come from a per-process generator seeded once from
the kernel, and re-seeded in a forked child so two processes never share a sequence.
"""

from __future__ import annotations

import os
import random

_generator: random.Random | None = None
_owner_pid = 0


def random_hex(bits: int = 128) -> str:
    """``bits`` random bits as lower-case hex (32 characters for the default 128)."""
    global _generator, _owner_pid
    pid = os.getpid()
    if _generator is None or pid != _owner_pid:
        _generator, _owner_pid = random.Random(os.urandom(32)), pid  # noqa: S311  (unique, not secret)
    return f"{_generator.getrandbits(bits):0{bits // 4}x}"
