from __future__ import annotations

import openai

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_chunk, assert_completion


def test_openai_sdk_round_trip(fake_openai: FakeOpenAI) -> None:
    with running_gateway(openai_config(fake_openai.v1)) as gw:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        result = client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
        assert_completion(result.model_dump(exclude_unset=True))
        assert result.choices[0].message.content == "Hello from the fake upstream."
        chunks = list(
            client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True)
        )
        for chunk in chunks:
            assert_chunk(chunk.model_dump(exclude_unset=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake upstream."
        assert fake_openai.chat_requests()[-1].json()["stream_options"] == {"include_usage": True}
