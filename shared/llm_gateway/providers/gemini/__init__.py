"""Google Gemini (Generative Language API): ``generateContent`` / ``streamGenerateContent?alt=sse``."""

from llm_gateway.providers.gemini.provider import GeminiProvider

__all__ = ["GeminiProvider"]
