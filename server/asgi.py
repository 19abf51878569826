"""The ASGI entry point uvicorn imports: settings are read here, once, at process start."""

from __future__ import annotations

from server.app import create_app
from server.settings import SettingsError, configure_logging, keep_secret_key, load_settings

try:
    settings = load_settings()
except SettingsError as exc:  # one line naming the variable, not a traceback
    raise SystemExit(f"inbox: {exc}") from None
settings = keep_secret_key(settings)  # dev and demo: every process signs with the kept key
configure_logging(settings)
app = create_app(settings)
