"""MongoDB connection strings: redaction for anything printed or logged, and where a URI comes from."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

from analytiq_data.errors import ConfigurationError

REDACTED = "***"

# URI options whose values are secrets.
_SECRET_OPTIONS = {
    "tlscertificatekeyfilepassword",
    "sslpemkeypassword",
    "authmechanismproperties",
    "password",
}

_URI_RE = re.compile(r"mongodb(?:\+srv)?://[^\s'\"<>]+", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """Return ``uri`` with the password and secret options replaced by ``***``.

    The user name stays (it helps find the right account); anything between ``://`` and the
    last ``@`` before the host list counts as credentials, so passwords holding ``@`` or ``:``
    (percent-encoded or not) are covered. Text that is not a MongoDB URI is returned unchanged.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    # The host part ends at the first "/" or "?" after the credentials.
    at = _credentials_end(rest)
    if at >= 0:
        creds, hosts_and_more = rest[:at], rest[at + 1 :]
        user = creds.split(":", 1)[0] if ":" in creds else creds
        creds_out = f"{user}:{REDACTED}" if ":" in creds else user
        rest = f"{creds_out}@{hosts_and_more}"
    head, qmark, query = rest.partition("?")
    if qmark:
        query = "&".join(_redact_option(part) for part in re.split(r"[&;]", query))
        rest = f"{head}?{query}"
    return f"{scheme}://{rest}"


def _credentials_end(rest: str) -> int:
    """Return the index of the '@' ending the credentials in ``rest`` (after ``://``), or -1.

    Errs on the side of redacting: the last '@' before the options ends the credentials, and a
    password holding an unencoded '?' is still recognised (no '=' between '://' and its '@').
    """
    qmark = rest.find("?")
    cut = len(rest) if qmark < 0 else qmark
    at = rest.rfind("@", 0, cut)
    if at >= 0:
        return at
    later = rest.find("@", cut)
    if later >= 0 and "=" not in rest[:later]:
        return later
    return -1


def _redact_option(part: str) -> str:
    key, eq, value = part.partition("=")
    if eq and unquote(key).lower() in _SECRET_OPTIONS and value:
        return f"{key}={REDACTED}"
    return part


def redact_text(text: str) -> str:
    """Return ``text`` with every MongoDB URI in it redacted (for error messages and logs)."""
    return _URI_RE.sub(lambda m: redact_uri(m.group(0)), text)


def hosts_of(uri: str) -> str:
    """Return the host list of ``uri`` (``host1:27017,host2``), without credentials or options."""
    _, _, rest = uri.partition("://")
    at = _credentials_end(rest)
    if at >= 0:
        rest = rest[at + 1 :]
    return re.split(r"[/?]", rest, maxsplit=1)[0]


def resolve_uri(value: str | None, *, what: str = "URI") -> str | None:
    """Return the URI a user gave, reading ``env:NAME`` and ``file:PATH`` indirections.

    ``env:NAME`` reads the environment variable NAME; ``file:PATH`` reads the first line of a
    file. Either keeps a password out of the process list and shell history. Plain URIs pass
    through; ``None`` stays ``None``.
    """
    if value is None:
        return None
    if value.startswith("env:"):
        name = value[4:]
        found = os.environ.get(name)
        if not found:
            raise ConfigurationError(
                f"{what}: environment variable {name} is not set or empty",
                hint=f"export {name}=mongodb://... or pass the URI directly",
            )
        return found.strip()
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise ConfigurationError(
                f"{what}: cannot read {path}: {exc.strerror}", hint="check the path and its permissions"
            ) from exc
        if not lines:
            raise ConfigurationError(f"{what}: {path} is empty", hint="put the URI on its first line")
        return lines[0].strip()
    return value
