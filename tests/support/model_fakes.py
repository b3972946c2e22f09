"""Fake upstreams that answer like a model in an agent loop, and refuse what the real APIs refuse.

Each reads the request as its real API would and decides, as a tool-using model does: with tools and no
tool result yet, call the (forced, else first) tool with arguments that fit its schema; after a tool
result, answer in text; asked for JSON (a response schema), answer JSON that fits it. With thinking on,
each answer opens with a signed thinking block. And each enforces its API's rules for a tool loop:

- Anthropic and Claude on Bedrock: with thinking on, the assistant turn holding the tool calls must start
  with its thinking block (400 otherwise, as the real APIs answer);
- Gemini 3: a replayed function call must carry its ``thoughtSignature`` (400 otherwise).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

from llm_gateway.providers.mock.answers import example_for_schema
from tests.support import fake_anthropic
from tests.support.fake_anthropic import FakeAnthropic, Reply
from tests.support.fake_bedrock import Error, FakeBedrockHTTP
from tests.support.fake_bedrock import Reply as BReply
from tests.support.fake_bedrock import Stream as BStream
from tests.support.fake_gemini import FakeGemini, GReply, GStatus, _error_body
from tests.support.fake_http import FakeRequest, Responder
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Reply as OReply

THOUGHT = "The user wants the weather; the tool knows it."
SIGNATURE = "EqQBCkYIARgCIkDsignedByTheFake=="
FINAL_TEXT = "It is sunny in Paris."


def _arguments(schema: Any) -> dict[str, Any]:
    value = example_for_schema(schema or {"type": "object"})
    return value if isinstance(value, dict) else {}


class AgentAnthropic(FakeAnthropic):
    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        body = request.json() if request.body else {}
        if isinstance(body, dict) and body.get("messages"):
            with self._plan_lock:
                self._plans.clear()  # a request refused before it took its answer leaves none behind
            self.plan(self.decide(body))
        await super().handle(request, respond)

    @staticmethod
    def decide(body: dict[str, Any]) -> Reply:
        thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        last = body["messages"][-1]
        answered = isinstance(last["content"], list) and any(b.get("type") == "tool_result" for b in last["content"])
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        thought = THOUGHT if thinking else None
        if tools and not answered and choice.get("type") != "none":
            tool = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
            return Reply(text="", tools=[(tool["name"], _arguments(tool.get("input_schema")))], thinking=thought)
        schema = ((body.get("output_config") or {}).get("format") or {}).get("schema")
        if schema is not None:
            return Reply(text=json.dumps(_arguments(schema)), thinking=thought)
        return Reply(text=FINAL_TEXT, thinking=thought)


class AgentGemini(FakeGemini):
    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        body = request.json() if request.body else {}
        if isinstance(body, dict) and body.get("contents"):
            problem = self.check(request.path, body)
            if problem:
                await respond.send(400, _error_body(GStatus(400, "INVALID_ARGUMENT", problem)))
                return
            self.plan(self.decide(body))
        await super().handle(request, respond)

    @staticmethod
    def check(path: str, body: dict[str, Any]) -> str | None:
        if "gemini-3" not in path:
            return None
        for position, content in enumerate(body["contents"]):
            calls = [p for p in content.get("parts") or [] if "functionCall" in p]
            if content.get("role") == "model" and calls and not calls[0].get("thoughtSignature"):
                return f"Function call is missing a thought_signature in functionCall parts (contents[{position}])."
        return None

    @staticmethod
    def decide(body: dict[str, Any]) -> GReply:
        generation = body.get("generationConfig") or {}
        thought = THOUGHT if (generation.get("thinkingConfig") or {}).get("includeThoughts") else None
        last = body["contents"][-1]
        answered = any("functionResponse" in p for p in last.get("parts") or [])
        config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
        allowed = config.get("allowedFunctionNames")
        declarations = [d for d in declarations if not allowed or d["name"] in allowed]
        if declarations and not answered and config.get("mode") != "NONE":
            tool = declarations[0]
            schema = tool.get("parametersJsonSchema") or tool.get("parameters")
            return GReply(text="", calls=[(tool["name"], _arguments(schema))], thought=thought, signature=SIGNATURE)
        schema = generation.get("responseJsonSchema") or generation.get("responseSchema")
        if schema is not None:
            return GReply(text=json.dumps(_arguments(schema)), calls=[], thought=thought)
        return GReply(text=FINAL_TEXT, calls=[], thought=thought)


class AgentBedrock(FakeBedrockHTTP):
    """Converse / ConverseStream over HTTP (the gateway's own boto3 client signs and parses)."""

    async def _handle(self, request: Any, respond: Any) -> None:
        body = json.loads(request.body or b"{}")
        operation = request.path.rpartition("/")[2]
        if operation in ("invoke", "invoke-with-response-stream", "count-tokens"):
            self._plans.clear()
            model = unquote(request.path.split("/model/", 1)[1]).rpartition("/")[0]
            self.plan(self.decide_invoke(body, operation, model))
        elif body.get("messages"):
            self._plans.clear()
            self.plan(self.decide(body, stream=request.path.endswith("/converse-stream")))
        await super()._handle(request, respond)

    @staticmethod
    def decide_invoke(body: dict[str, Any], operation: str, model: str) -> Any:
        """InvokeModel with Anthropic's body (Claude's own answer, as the Anthropic fake makes it), its stream
        (each event in a ``chunk``), and CountTokens over such a body."""
        if operation == "count-tokens":
            invoked = json.loads(base64.b64decode(body["input"]["invokeModel"]["body"]))
            return BReply({"inputTokens": 11 + len(json.dumps(invoked["messages"])) // 4})
        if body.get("anthropic_version") != "bedrock-2023-05-31" or "model" in body or "stream" in body:
            return Error(400, "ValidationException", "anthropic_version must be bedrock-2023-05-31; no model, stream")
        body = {**body, "model": model}
        reply = AgentAnthropic.decide(body)
        if operation == "invoke":
            return BReply(fake_anthropic.message(reply, body))
        events = [event.split("data: ", 1)[1].strip() for event in fake_anthropic.stream_events(reply, body)]
        return BStream([("chunk", {"bytes": base64.b64encode(event.encode()).decode()}) for event in events])

    @staticmethod
    def decide(body: dict[str, Any], *, stream: bool) -> Any:
        thinking = ((body.get("additionalModelRequestFields") or {}).get("thinking") or {}).get("type") == "enabled"
        messages = body["messages"]
        if thinking:
            for position, message in enumerate(messages):
                kinds = [next(iter(block)) for block in message["content"]]
                if message["role"] == "assistant" and "toolUse" in kinds and kinds[0] != "reasoningContent":
                    return Error(
                        400,
                        "ValidationException",
                        f"messages.{position}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                        "found `tool_use`. When `thinking` is enabled, a final `assistant` message must start "
                        "with a thinking block",
                    )
        answered = any("toolResult" in block for block in messages[-1]["content"])
        config = body.get("toolConfig") or {}
        specs = [t["toolSpec"] for t in config.get("tools") or []]
        forced = (config.get("toolChoice") or {}).get("tool", {}).get("name")
        blocks: list[dict[str, Any]] = []
        if thinking:
            blocks.append({"reasoningContent": {"reasoningText": {"text": THOUGHT, "signature": SIGNATURE}}})
        if specs and not answered:
            spec = next((s for s in specs if s["name"] == forced), specs[0])
            arguments = _arguments((spec.get("inputSchema") or {}).get("json"))
            blocks.append(
                {"toolUse": {"toolUseId": f"tooluse_{len(messages):04d}", "name": spec["name"], "input": arguments}}
            )
        else:
            text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
            schema = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
            blocks.append({"text": json.dumps(_arguments(json.loads(schema))) if schema else FINAL_TEXT})
        stop = "tool_use" if any("toolUse" in b for b in blocks) else "end_turn"
        usage = {"inputTokens": 20, "outputTokens": 10, "totalTokens": 30}
        if not stream:
            return BReply(
                {"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": stop, "usage": usage}
            )
        return BStream(_converse_events(blocks, stop, usage))


def _converse_events(blocks: list[dict[str, Any]], stop: str, usage: dict[str, Any]) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        if "reasoningContent" in block:
            text = block["reasoningContent"]["reasoningText"]
            events.append(
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": text["text"]}}},
                )
            )
            events.append(
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": text["signature"]}}},
                )
            )
        elif "toolUse" in block:
            tool = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
            events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            events.append(
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"toolUse": {"input": json.dumps(tool["input"])}}},
                )
            )
        else:
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": block["text"]}}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": stop}))
    events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 5}}))
    return events


class AgentOpenAI(FakeOpenAI):
    """An OpenAI-compatible server answering like a model (no thinking rules to enforce)."""

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        if request.path.endswith("/chat/completions") and request.body:
            self.reset()
            self.plan(self.decide(request.json()))
        await super().handle(request, respond)

    @staticmethod
    def decide(body: dict[str, Any]) -> OReply:
        answered = body["messages"][-1].get("role") == "tool"
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        if tools and not answered and choice != "none":
            tool = next((t for t in tools if t["function"]["name"] == forced), tools[0])["function"]
            return OReply(text="", tool_calls=[(tool["name"], json.dumps(_arguments(tool.get("parameters"))))])
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return OReply(text=json.dumps(_arguments(response_format["json_schema"].get("schema"))), tool_calls=[])
        return OReply(text=FINAL_TEXT, tool_calls=[])  # after the tool result: no call (the fake would make one)
