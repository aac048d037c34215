"""The HTTPS section, ``BEHOLDER_TLS_<NAME>`` (issue 14 item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class TlsSettings(SecretSettings):
    """HTTPS/WSS for ``beholder serve|api``, ``BEHOLDER_TLS_<NAME>``.

    ``mode``: ``off`` (plain HTTP, the default unless ``cert``/``key`` are set), ``files``
    (the PEM files ``cert`` and ``key``; set implicitly by giving both) or ``self-signed``
    (a local CA and a server certificate generated under ``<data_dir>/tls`` on first run and
    reused after). ``redirect_port``: when set (and TLS is on), a plain-HTTP listener on
    this port answers every request with ``308`` to the same path over https."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_TLS_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    mode: Literal["off", "files", "self-signed"] = Field(
        default="off", description="off | files (cert + key) | self-signed (generated)"
    )
    cert: Path | None = Field(default=None, description="PEM certificate chain (leaf first)")
    key: Path | None = Field(default=None, description="PEM private key of the certificate")
    redirect_port: int | None = Field(
        default=None, ge=1, le=65535, description="plain-HTTP port that redirects (308) to https"
    )

    @model_validator(mode="after")
    def _consistent(self) -> TlsSettings:
        given = (self.cert is not None) + (self.key is not None)
        if given == 1:
            raise ValueError("BEHOLDER_TLS_CERT and BEHOLDER_TLS_KEY go together")
        if given == 2 and self.mode == "self-signed":
            raise ValueError("self-signed mode generates its own certificate; drop CERT/KEY")
        if given == 2 and self.mode == "off":
            object.__setattr__(self, "mode", "files")
        if self.mode == "files" and given == 0:
            raise ValueError("mode files needs BEHOLDER_TLS_CERT and BEHOLDER_TLS_KEY")
        if self.redirect_port is not None and self.mode == "off":
            raise ValueError("BEHOLDER_TLS_REDIRECT_PORT needs TLS (a certificate or self-signed)")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the server speaks TLS."""
        return self.mode != "off"
