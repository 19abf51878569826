"""The durable send queue and the recorded outcome per recipient."""
