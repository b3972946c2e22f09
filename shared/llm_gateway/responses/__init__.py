"""``/v1/responses``: OpenAI's Responses API, bridged onto the chat pipeline (see docs/responses.md).

Loaded on the first ``/v1/responses`` request, never at cold start.
"""
