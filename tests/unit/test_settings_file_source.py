"""``BEHOLDER_<NAME>_FILE`` for every secret setting of every section (one mechanism,
config/file_values.py): the file's content is the value, both set or an unreadable file is one
line naming the variables, and no secret is ever echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from beholder.config import (
    SECTIONS,
    BusSettings,
    LiveViewSettings,
    SecretSettings,
    Settings,
    SettingsError,
    env_name,
    load_settings,
    secret_fields,
)

# A valid value per secret (the validators of some fields need more than any string).
VALUES = {
    "BEHOLDER_SECRET_KEY": "k3y-" + "s" * 40,
    "BEHOLDER_ADMIN_PASSWORD": "file-given admin phrase 9",
    "BEHOLDER_DATABASE_URL": "postgresql+asyncpg://beholder:db-p4ss@db.example:5432/b",
    "BEHOLDER_METRICS_TOKEN": "metrics-t0ken-from-file",
    "BEHOLDER_BUS_PASSWORD": "bus-p4ss-from-file",
    "BEHOLDER_BUS_TOKEN": "bus-t0ken-from-file",
    "BEHOLDER_WEBRTC_TURN_PASSWORD": "turn-p4ss-from-file",
    "BEHOLDER_RATE_LIMIT_STORAGE_URL": "redis://:r3dis-p4ss@redis.example:6379/0",
}
# Variables another secret needs alongside it (a bus password needs a user).
COMPANIONS = {"BEHOLDER_BUS_PASSWORD": {"BEHOLDER_BUS_USER": "beholder"}}


def _secrets() -> list[tuple[str, type[BaseSettings], str]]:
    return [
        (env_name(model, field), model, field)
        for model in SECTIONS
        for field in secret_fields(model)
    ]


SECRETS = _secrets()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BEHOLDER_"):
            monkeypatch.delenv(key)


def _field(settings: Settings, model: type[BaseModel], field: str) -> object:
    if model is Settings:
        return getattr(settings, field)
    section = next(n for n, i in Settings.model_fields.items() if i.annotation is model)
    return getattr(getattr(settings, section), field)


def test_every_section_uses_the_one_mechanism() -> None:
    assert all(issubclass(model, SecretSettings) for model in SECTIONS)


def test_the_known_secrets_are_all_secret_and_have_a_value_here() -> None:
    names = {variable for variable, _, _ in SECRETS}
    assert names == set(VALUES), "a new secret field needs a value in VALUES"
    for _, model, field in SECRETS:
        assert "SecretStr" in str(model.model_fields[field].annotation)


@pytest.mark.parametrize(("variable", "model", "field"), SECRETS, ids=[s[0] for s in SECRETS])
@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_a_secret_is_read_from_its_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    model: type[BaseModel],
    field: str,
    ending: str,
) -> None:
    path = tmp_path / "secret"
    path.write_bytes((VALUES[variable] + ending).encode())
    monkeypatch.setenv(f"{variable}_FILE", str(path))
    for name, value in COMPANIONS.get(variable, {}).items():
        monkeypatch.setenv(name, value)
    got = _field(load_settings(), model, field)
    assert isinstance(got, SecretStr)
    assert got.get_secret_value() == VALUES[variable]
    assert VALUES[variable] not in repr(got)


@pytest.mark.parametrize(("variable", "model", "field"), SECRETS, ids=[s[0] for s in SECRETS])
def test_the_variable_alone_still_works(
    monkeypatch: pytest.MonkeyPatch, variable: str, model: type[BaseModel], field: str
) -> None:
    monkeypatch.setenv(variable, VALUES[variable])
    for name, value in COMPANIONS.get(variable, {}).items():
        monkeypatch.setenv(name, value)
    got = _field(load_settings(), model, field)
    assert isinstance(got, SecretStr) and got.get_secret_value() == VALUES[variable]


@pytest.mark.parametrize(("variable", "model", "field"), SECRETS, ids=[s[0] for s in SECRETS])
def test_both_set_is_one_line_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, model: type, field: str
) -> None:
    path = tmp_path / "secret"
    path.write_text(VALUES[variable])
    monkeypatch.setenv(variable, VALUES[variable])
    monkeypatch.setenv(f"{variable}_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert lines == [f"invalid setting {variable}_FILE: {variable} is also set; set one of them"], (
        lines
    )


@pytest.mark.parametrize(("variable", "model", "field"), SECRETS, ids=[s[0] for s in SECRETS])
def test_a_missing_file_is_one_line_naming_the_variable_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, model: type, field: str
) -> None:
    path = tmp_path / "nowhere" / "secret"
    monkeypatch.setenv(f"{variable}_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).splitlines() == [
        f"invalid setting {variable}_FILE={path}: cannot read the file (No such file or directory)"
    ]


def test_an_unreadable_file_never_shows_its_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    monkeypatch.setenv("BEHOLDER_SECRET_KEY_FILE", str(directory))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe secret \xff")
    monkeypatch.setenv("BEHOLDER_BUS_TOKEN_FILE", str(binary))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = sorted(str(caught.value).splitlines())
    assert lines == [
        f"invalid setting BEHOLDER_BUS_TOKEN_FILE={binary}: the file is not UTF-8 text",
        f"invalid setting BEHOLDER_SECRET_KEY_FILE={directory}: cannot read the file "
        "(Is a directory)",
    ]


@pytest.mark.parametrize(
    ("variable", "content", "reason"),
    [
        ("BEHOLDER_SECRET_KEY", "short-key-in-a-file", "must be at least 32 bytes"),
        ("BEHOLDER_ADMIN_PASSWORD", "shortpw1", "The password must have at least"),
    ],
)
def test_a_bad_value_from_a_file_is_checked_and_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, content: str, reason: str
) -> None:
    path = tmp_path / "secret"
    path.write_text(content + "\n")
    monkeypatch.setenv(f"{variable}_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    (line,) = str(caught.value).splitlines()
    assert line.startswith(f"invalid setting {variable}=<hidden>: ") and reason in line
    assert content not in line


def test_explicit_keyword_arguments_win_over_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret"
    path.write_text("bus-t0ken-from-file")
    monkeypatch.setenv("BEHOLDER_BUS_TOKEN_FILE", str(path))
    assert BusSettings(token="given").token == SecretStr("given")
    assert BusSettings().token == SecretStr("bus-t0ken-from-file")


def test_secrets_are_hidden_in_repr_and_dumps() -> None:
    settings = Settings(
        secret_key=VALUES["BEHOLDER_SECRET_KEY"],
        admin_password=VALUES["BEHOLDER_ADMIN_PASSWORD"],
        database_url=VALUES["BEHOLDER_DATABASE_URL"],
        metrics_token=VALUES["BEHOLDER_METRICS_TOKEN"],
        live_view=LiveViewSettings(webrtc_turn_password=VALUES["BEHOLDER_WEBRTC_TURN_PASSWORD"]),
        bus=BusSettings(token=VALUES["BEHOLDER_BUS_TOKEN"]),
    )
    shown = repr(settings) + settings.model_dump_json() + str(settings.model_dump())
    for variable, value in VALUES.items():
        if variable != "BEHOLDER_BUS_PASSWORD":
            assert value not in shown, variable
    assert settings.resolved_database_url == VALUES["BEHOLDER_DATABASE_URL"]
