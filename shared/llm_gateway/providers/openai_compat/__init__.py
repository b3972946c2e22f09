"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, LM Studio, Together, Groq, ...)."""

from llm_gateway.providers.openai_compat.provider import OpenAICompatProvider

__all__ = ["OpenAICompatProvider"]
