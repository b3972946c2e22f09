"""``Idempotency-Key``: a repeated request gets the stored answer of the first, not a second upstream call."""
