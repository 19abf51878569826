"""The domain of the inbox: models, rules and use cases.

Knows nothing of HTTP or protocols; `server/` and `channels/` depend on it, never the reverse.
"""
