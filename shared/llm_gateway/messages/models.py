"""``GET /v1/models`` and ``/v1/models/{id}`` in Anthropic's shape, for a request with ``anthropic-version``.

Only model groups that serve Messages are listed; ``created_at`` is when this process started (the
OpenAI shape's ``created``). Paging as Anthropic's: ``limit`` (1-1000, default 20), ``after_id``,
``before_id``; ``has_more``, ``first_id``, ``last_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from llm_gateway.errors import InvalidRequestError


def model_info(name: str, created: int) -> dict[str, Any]:
    created_at = datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": name, "display_name": name, "created_at": created_at}


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequestError("limit: must be an integer from 1 to 1000.", param="limit")
    return int(raw)


def model_list(names: list[str], created: int, query: Mapping[str, str]) -> dict[str, Any]:
    limit = _limit(query)
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and after in names:
        names = names[names.index(after) + 1 :]
    if before is not None and before in names:
        names = names[: names.index(before)]
        page = names[-limit:]
        has_more = len(names) > limit
    else:
        page = names[:limit]
        has_more = len(names) > limit
    return {
        "data": [model_info(name, created) for name in page],
        "has_more": has_more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }
