"""Request and completion ids: unique, well-formed, and not shared by forked processes."""

from __future__ import annotations

import os
import re

from llm_gateway.ids import random_hex


def test_ids_are_hex_of_the_asked_length_and_do_not_repeat() -> None:
    ids = {random_hex() for _ in range(50_000)}
    assert len(ids) == 50_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert re.fullmatch(r"[0-9a-f]{16}", random_hex(64))


def test_a_forked_child_does_not_repeat_its_parents_sequence() -> None:
    random_hex()  # the parent's generator exists before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_hex().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child != random_hex()
    assert re.fullmatch(r"[0-9a-f]{32}", child)
