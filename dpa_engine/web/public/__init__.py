"""The customer's side of the web app: the notice page (object, consent, acknowledge with a
signed link) and the public sub-processor page (list, upcoming changes, archive, feeds, e-mail
subscription). Include `router` in the app; `security_headers(app)` adds the security headers middleware;
`configure(app, load_settings(...))` sets the database, texts, SMTP and public URL (else they
come from the environment on first request)."""

from .routes import router
from .security import SecurityHeaders, security_headers
from .settings import PublicSettings, configure, load_settings, public_settings

__all__ = ["PublicSettings", "SecurityHeaders", "configure", "load_settings", "public_settings", "router",
           "security_headers"]
