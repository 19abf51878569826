"""The per-user ordered event log behind the websocket."""
