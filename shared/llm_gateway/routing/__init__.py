"""Reliable routing: balancing, retries with backoff, fallbacks, context-window fallbacks and cooldowns
shared across instances through DynamoDB (see :mod:`.router`)."""
