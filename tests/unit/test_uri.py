"""URI redaction and indirection: no password ever reaches a screen or a log."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytiq_data.errors import ConfigurationError
from analytiq_data.uri import hosts_of, redact_text, redact_uri, resolve_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://localhost:27017", "mongodb://localhost:27017"),
        ("mongodb://alice:s3cret@db.example:27017/app", "mongodb://alice:***@db.example:27017/app"),
        ("mongodb+srv://bob:hunter2@cluster0.abc.mongodb.net/", "mongodb+srv://bob:***@cluster0.abc.mongodb.net/"),
        (
            "mongodb://u:pw@h1:27017,h2:27018,h3/db?replicaSet=rs0&authSource=admin",
            "mongodb://u:***@h1:27017,h2:27018,h3/db?replicaSet=rs0&authSource=admin",
        ),
        ("mongodb://u:p%40ss%3Aw%2Frd@host/", "mongodb://u:***@host/"),
        ("mongodb://u:p@ss@host/db", "mongodb://u:***@host/db"),
        ("mongodb://u:pa?ss@host/db", "mongodb://u:***@host/db"),
        ("mongodb://onlyuser@host/?authMechanism=MONGODB-X509", "mongodb://onlyuser@host/?authMechanism=MONGODB-X509"),
        (
            "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=topsecret",
            "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=***",
        ),
        (
            "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok",
            "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=***",
        ),
        ("mongodb://h/?appname=me@laptop", "mongodb://h/?appname=me@laptop"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


@pytest.mark.parametrize("secret", ["s3cret", "hunter2", "p%40ss", "topsecret", "tok"])
def test_redact_text_finds_uris_inside_messages(secret: str) -> None:
    message = (
        f"failed on 'mongodb://u:{secret}@h:1/x' and mongodb+srv://v:{secret}@c.net "
        f"and mongodb://h/?tlsCertificateKeyFilePassword={secret}&authMechanismProperties=AWS_SESSION_TOKEN:{secret}"
    )
    out = redact_text(message)
    assert secret not in out
    assert out.count("***") == 4


def test_hosts_of_strips_credentials_and_options() -> None:
    assert hosts_of("mongodb://u:p@h1:1,h2:2/db?replicaSet=x") == "h1:1,h2:2"
    assert hosts_of("mongodb+srv://c.example.net") == "c.example.net"


def test_resolve_uri_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SRC_URI", "mongodb://a:b@h/")
    assert resolve_uri("env:SRC_URI") == "mongodb://a:b@h/"
    path = tmp_path / "uri.txt"
    path.write_text("mongodb://c:d@h2/\n# comment\n")
    assert resolve_uri(f"file:{path}") == "mongodb://c:d@h2/"
    assert resolve_uri("mongodb://plain/") == "mongodb://plain/"
    assert resolve_uri(None) is None


def test_resolve_uri_errors_name_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOPE_URI", raising=False)
    with pytest.raises(ConfigurationError, match="NOPE_URI is not set"):
        resolve_uri("env:NOPE_URI")
    with pytest.raises(ConfigurationError, match="cannot read"):
        resolve_uri(f"file:{tmp_path / 'missing'}")
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigurationError, match="is empty"):
        resolve_uri(f"file:{empty}")
