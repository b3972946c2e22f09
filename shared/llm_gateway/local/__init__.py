"""Local runs only (``make serve``, tests, other tools): never imported on the Lambda path."""
