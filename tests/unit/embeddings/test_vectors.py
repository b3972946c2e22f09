"""Vectors on the wire: OpenAI's base64 is little-endian float32."""

from __future__ import annotations

import base64
import struct

import pytest

from llm_gateway.embeddings.response import embedding_list, for_client, is_complete, read_vector
from llm_gateway.embeddings.vectors import as_float32, decode_base64, encode_base64
from llm_gateway.errors import UpstreamConnectionError


def test_base64_is_little_endian_float32_as_openai_sends_it() -> None:
    vector = as_float32([0.0023064255, -0.009327292, 1.0, -2.5])
    encoded = encode_base64(vector)
    assert base64.b64decode(encoded) == struct.pack("<4f", *vector)
    assert decode_base64(encoded) == vector
    assert decode_base64(base64.b64encode(struct.pack("<2f", 0.5, -0.25)).decode()) == [0.5, -0.25]


@pytest.mark.parametrize("text", ["not base64!", base64.b64encode(b"abc").decode()])
def test_what_is_not_a_float32_vector_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_base64(text)
    with pytest.raises(UpstreamConnectionError):
        read_vector(text, "embed")


def test_an_upstream_vector_must_be_numbers() -> None:
    assert read_vector([1, 0.5], "embed") == [1.0, 0.5]
    for bad in (None, ["a"], [True], {"values": []}):
        with pytest.raises(UpstreamConnectionError):
            read_vector(bad, "embed")


def test_the_client_gets_its_encoding_and_the_stored_answer_is_not_altered() -> None:
    answer = embedding_list([[0.5, 0.25], [1.0, -1.0]], model="m", prompt_tokens=3)
    assert is_complete(answer, 2) and not is_complete(answer, 3)
    encoded = for_client(answer, "base64")
    assert encoded["data"][1]["embedding"] == encode_base64([1.0, -1.0])
    assert answer["data"][1]["embedding"] == [1.0, -1.0]
    assert for_client(answer, "float") == {**answer, "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    assert "usage" not in embedding_list([[0.0]], model="m", prompt_tokens=None)
