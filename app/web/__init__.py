"""The web page (design, watch, inspect crystals): static files served by the API process itself.

``install(app)`` mounts ``app/web/static`` at ``/web`` and adds ``/web/capabilities.json``, which tells
the page which optional API features this server has (read from the app's own OpenAPI schema), so
the page offers only what the API accepts.
"""

from app.web.router import install

__all__ = ["install"]
