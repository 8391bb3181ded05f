# Owned by the monocell template: `copier update` replaces this file.
"""The HTTP gateway (the DMZ): the only way in from outside.

Routes exist only for commands a cell marks `Public`. Each request passes, in
order: host allowlist, request id, audit, size limits, CORS, security headers
(`layers`), then authentication, rate limit, scopes, strict decoding and the
bus call under a deadline (`endpoint`). Refusals are problem+json
(`problems`). `openapi` derives the OpenAPI 3.1 document from the contracts,
`settings` reads the `[gateway]` table, `serve` runs it under uvicorn.
"""

from ..config.gateway_settings import GatewaySettings, SettingsError, load_gateway_settings
from .app import build_app

__all__ = ["GatewaySettings", "SettingsError", "build_app", "load_gateway_settings"]
