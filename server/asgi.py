"""The ASGI entry point uvicorn imports: settings are read here, once, at process start."""

from __future__ import annotations

from server.app import create_app
from server.settings import configure_logging, load_settings

settings = load_settings()
configure_logging(settings)
app = create_app(settings)
