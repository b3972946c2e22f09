"""``GET /v1/responses/{id}/input_items``: a stored response's input items as a list page."""

from __future__ import annotations

from typing import Any

from llm_gateway.errors import InvalidRequestError


def list_items(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """``order`` (``desc`` by default, as OpenAI's), ``after`` (an item id), ``limit`` (1 to 100, 20)."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise InvalidRequestError("Invalid 'limit': expected an integer from 1 to 100.", param="limit")
    ordered = list(items) if order == "asc" else list(reversed(items))
    after = query.get("after")
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequestError(f"Invalid 'after': no input item {after[:100]!r}.", param="after")
        ordered = ordered[ids.index(after) + 1 :]
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(ordered) > limit,
    }
