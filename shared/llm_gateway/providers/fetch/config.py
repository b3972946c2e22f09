"""The ``media_fetch`` config section: whether and how the gateway downloads http(s) media URLs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MediaFetchConfig(BaseModel):
    """Operator policy for fetching image/document/video URLs that a provider needs as bytes (Bedrock).

    Only public addresses are ever fetched; there is deliberately no setting to allow private ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="False: http(s) media URLs are refused with a 400.")
    allow_http: bool = Field(default=False, description="Also fetch plain http:// URLs (https only by default).")
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest body fetched (bytes).")
    timeout: float = Field(default=10.0, gt=0, le=120, description="Whole fetch, DNS and redirects included (s).")
    max_redirects: int = Field(default=3, ge=0, le=10)
