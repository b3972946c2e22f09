"""Anthropic's Messages API inbound (``POST /v1/messages``, ``/v1/messages/count_tokens``), bridged onto
the chat pipeline: the request is validated (:mod:`.schema`), translated to a chat request that carries
the client's own body (:mod:`.to_chat`, :mod:`llm_gateway.schemas.native`), and the chat answer is
translated back (:mod:`.from_chat`, :mod:`.stream`) unless the deployment answered natively. Loaded on
the first messages request, never at cold start."""
