"""Watch every log record of the whole test run for secrets: the master key, the fake upstreams' keys and
every virtual key the tests create. Records are checked as they are emitted, so nothing is kept."""

from __future__ import annotations

import logging
import threading

from tests.support.gateway import MASTER_KEY

KNOWN_SECRETS = {MASTER_KEY, "sk-upstream-secret-key-abcdef"}
_lock = threading.Lock()


def remember_secret(secret: str) -> None:
    with _lock:
        KNOWN_SECRETS.add(secret)


class SecretScanner(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage() + " " + str(getattr(record, "fields", ""))
            if record.exc_info and record.exc_info[1] is not None:
                text += " " + repr(record.exc_info[1])
        except Exception:  # a record that cannot be formatted is not ours to judge
            return
        with _lock:
            found = [s for s in KNOWN_SECRETS if s in text]
        if found:
            self.leaks.append(f"{record.name}: {record.levelname}: secret {found[0][:8]}... in a log record")
