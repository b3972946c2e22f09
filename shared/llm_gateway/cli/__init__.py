"""The operator's command line: ``python -m llm_gateway.cli keys ...`` and ``... spend report``."""
