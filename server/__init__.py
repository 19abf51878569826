"""The Litestar app, the websocket, workers' lifecycle, the CLI and settings."""
