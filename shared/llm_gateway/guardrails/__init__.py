"""Guardrails: checks and rewrites of the prompt before the call (and of the answer after it).

Built in: ``pii_redaction`` (:mod:`.pii`), ``deny_list`` (:mod:`.deny`), ``prompt_size`` (:mod:`.size`),
and AWS Bedrock ``ApplyGuardrail`` (:mod:`.bedrock`) as a configured guardrail. The layer
(:mod:`.layer`) applies the config's defaults, the key's defaults and the request's ``guardrails`` list.
"""
