"""The response cache (DynamoDB, or process memory): see the README's "Response cache".

Built by :mod:`.factory`; storage and boto3 load only when the cache is on.
"""
