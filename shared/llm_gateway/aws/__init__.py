"""AWS plumbing: lazily created boto3 clients, table names, secret loaders. boto3 is imported on first use."""
