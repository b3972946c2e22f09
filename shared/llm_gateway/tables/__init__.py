"""The gateway's one table layer: a small async interface (:mod:`.base`) that every store is written
against, with an in-memory implementation (:mod:`.memory`) and a DynamoDB one (:mod:`.dynamodb`).

This package stays light: the in-memory table imports nothing heavy, and boto3 loads only when a
DynamoDB table makes its first call.
"""
