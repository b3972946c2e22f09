"""``POST /v1/embeddings``: the answer's shape and encoding, and the service that runs the pipeline."""
