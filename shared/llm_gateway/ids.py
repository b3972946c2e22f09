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


def reseed() -> None:
    """Seed the generator again from the kernel on its next use: in a forked child, and in an environment
    restored from a SnapStart snapshot (else every copy would hand out the same ids)."""
    global _generator
    _generator = None


# a forked child seeds its own generator (checking the pid on every call would be a system call per id)
os.register_at_fork(after_in_child=reseed)


def random_hex(bits: int = 128) -> str:
    """``bits`` random bits as lower-case hex (32 characters for the default 128)."""
    global _generator
    generator = _generator
    if generator is None:
        generator = _generator = random.Random(os.urandom(32))  # noqa: S311  (unique, not secret)
    return f"{generator.getrandbits(bits):0{bits // 4}x}"
