"""The bus section, ``BEHOLDER_BUS_<NAME>``: its URL and, for NATS, credentials and TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    FilePath,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class BusSettings(SecretSettings):
    """The bus, ``BEHOLDER_BUS_<NAME>``: where it is and, for NATS, how to authenticate.

    ``url``: ``memory://`` (one process) or ``nats://host:4222`` / ``tls://host:4222``, or
    several NATS servers of one cluster separated by commas (``nats://a:4222,nats://b:4222``:
    the client starts on any that answers and fails over to the others; it also learns the
    cluster's other members from the server).
    Credentials, one kind at most: ``user`` + ``password``, ``token``, an nkey seed file, or a
    ``.creds`` file (JWT + nkey seed, NATS decentralised auth). TLS: ``tls_ca_file`` verifies
    the server (enables TLS on a ``nats://`` URL), ``tls_cert_file`` + ``tls_key_file`` are
    the client certificate when the server asks for one. Files must exist at start-up.
    Secrets are :class:`~pydantic.SecretStr` (never printed by ``repr`` or in an error line).
    """

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_BUS_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    url: str = Field(
        default="memory://",
        pattern=r"^(memory|nats|tls)://",
        description="memory:// or nats://host:4222 (tls://host:4222 for TLS); the servers "
        "of a NATS cluster separated by commas",
    )
    user: str | None = Field(default=None, min_length=1, description="NATS user name")
    password: SecretStr | None = Field(default=None, description="NATS password (with user)")
    token: SecretStr | None = Field(default=None, description="NATS authentication token")
    nkey_seed_file: FilePath | None = Field(
        default=None, description="file holding the NATS nkey seed (SU...)"
    )
    creds_file: FilePath | None = Field(
        default=None, description="NATS .creds file (user JWT and nkey seed)"
    )
    tls_ca_file: FilePath | None = Field(
        default=None, description="CA bundle that signs the NATS server's certificate"
    )
    tls_cert_file: FilePath | None = Field(default=None, description="client certificate (PEM)")
    tls_key_file: FilePath | None = Field(default=None, description="client private key (PEM)")

    @field_validator("url")
    @classmethod
    def _one_kind_of_servers(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",")]
        if len(servers) > 1 and not all(s.startswith(("nats://", "tls://")) for s in servers):
            raise ValueError("a list of bus servers holds nats:// or tls:// URLs only")
        return ",".join(servers)

    @property
    def servers(self) -> list[str]:
        """The server URLs of :attr:`url`, in order."""
        return self.url.split(",")

    @field_validator("password")
    @classmethod
    def _password_needs_user(cls, value: SecretStr | None, info: ValidationInfo) -> Any:
        if value is not None and not info.data.get("user"):
            raise ValueError("BEHOLDER_BUS_PASSWORD needs BEHOLDER_BUS_USER")
        return value

    @field_validator("creds_file")
    @classmethod
    def _one_kind_of_credentials(cls, value: Path | None, info: ValidationInfo) -> Any:
        given = [
            name
            for name, present in (
                ("USER", info.data.get("user") is not None),
                ("TOKEN", info.data.get("token") is not None),
                ("NKEY_SEED_FILE", info.data.get("nkey_seed_file") is not None),
                ("CREDS_FILE", value is not None),
            )
            if present
        ]
        if len(given) > 1:
            names = ", ".join(f"BEHOLDER_BUS_{n}" for n in given)
            raise ValueError(f"set one kind of bus credentials, not {names}")
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _cert_and_key_together(cls, value: Path | None, info: ValidationInfo) -> Any:
        if (value is None) != (info.data.get("tls_cert_file") is None):
            raise ValueError("BEHOLDER_BUS_TLS_CERT_FILE and BEHOLDER_BUS_TLS_KEY_FILE go together")
        return value

    @property
    def authenticated(self) -> bool:
        """True when credentials are configured (here, as ``user:pass@`` in the URL, or a
        client certificate)."""
        in_url = any("@" in s.split("://", 1)[-1] for s in self.servers)
        given = (self.user, self.token, self.nkey_seed_file, self.creds_file, self.tls_cert_file)
        return in_url or any(v is not None for v in given)
