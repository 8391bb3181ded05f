# Owned by the monocell template: `copier update` replaces this file.
"""The HTTP gateway (the DMZ): the only way in from outside.

Routes exist only for commands a cell marks `Public`. `serve` reads each
request through `protocol` (bounded head, read timeouts); then it passes, in
order: request id, security headers, audit, Host, exact paths, size limits,
CORS (`layers`), then the per-address rate limit, authentication, the
per-caller rate limit, scopes, strict decoding and the bus call under a
deadline, carrying the caller's principal and trace (`endpoint`). Refusals are problem+json
(`problems`). `openapi` derives the OpenAPI 3.1 document from the contracts,
`settings` reads the `[gateway]` table, `serve` runs it under uvicorn.
"""

from ..config.gateway_settings import GatewaySettings, SettingsError, load_gateway_settings
from .app import build_app

__all__ = ["GatewaySettings", "SettingsError", "build_app", "load_gateway_settings"]
