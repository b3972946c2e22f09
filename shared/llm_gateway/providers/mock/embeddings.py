"""The mock's embeddings: a pure function of the model and each input, so tests can predict every value.

Each input's vector comes from SHAKE-256 of the model id and the input, scaled to unit length and
rounded to float32 as a real model's output is; ``dimensions`` keeps the leading values and scales
them to unit length again (as OpenAI's text-embedding-3 models shorten), so an input has one vector
whatever the batch around it.
"""

from __future__ import annotations

import hashlib
import math
from array import array

import orjson

from llm_gateway.embeddings.vectors import as_float32
from llm_gateway.providers.mock.answers import count_tokens


def mock_vector(model: str, item: str | tuple[int, ...], dimensions: int, full: int) -> list[float]:
    """The vector of ``item``: the first ``dimensions`` of its ``full``-dimension vector, unit length."""
    seed = orjson.dumps([model, item if isinstance(item, str) else list(item)])
    words = array("I")
    words.frombytes(hashlib.shake_256(seed).digest(4 * full))
    values = [word / 2147483647.5 - 1.0 for word in words[:dimensions]]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return as_float32([value / norm for value in values])


def mock_tokens(item: str | tuple[int, ...]) -> int:
    return count_tokens(item) if isinstance(item, str) else len(item)
