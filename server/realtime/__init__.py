"""Realtime: the resumable websocket event stream, presence, and fan-out across processes."""
