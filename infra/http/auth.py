"""Who a request is from: an API token or a province single sign-on JWT (`Authorization:
Bearer`) for the API, a signed session cookie for the web workspace — and the guards
around them: CSRF tokens on every form, a sign-in rate limit per address, back-off after
failures (lock-out is the credential table's).

Sessions are signed (itsdangerous), HttpOnly, SameSite=Strict cookies that expire; each
names the password credential it came from and that credential's epoch, so revoking the
password or signing out ends it at once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import orjson
from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from infra.http.credentials import TOKEN_PREFIX, Credentials, Principal, Refused
from infra.http.problems import Problem, unauthorized
from infra.settings import Settings

SESSION_COOKIE = "zhibao_session"
PRE_SESSION_COOKIE = "zhibao_form"  # holds the CSRF nonce of forms shown before sign-in
SINGLE_SIGN_ON = "single_sign_on"
JWT_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


def secret_key(path: Path) -> bytes:
    """The key that signs sessions and CSRF tokens: made (owner-only) when missing — by
    one process only, when several start together (a link fails if the file exists)."""
    if not path.exists():
        made = path.with_name(f".{path.name}.{os.getpid()}")
        made.write_bytes(secrets.token_bytes(32))
        os.chmod(made, 0o600)
        try:
            os.link(made, path)
        except FileExistsError:
            pass
        finally:
            made.unlink()
    return path.read_bytes()


class RateLimit:
    """At most `per_minute` attempts per key in any sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen[key]
            while seen and seen[0] < now - 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return False
            seen.append(now)
            return True


class SingleSignOn:
    """Bearer JWTs from the province's identity provider: signature by its key set,
    issuer, audience and expiry checked (joserfc); a claim names the registered person."""

    def __init__(self, settings: Settings) -> None:
        assert settings.http_oidc_jwks is not None and settings.http_oidc_issuer is not None
        self.keys = KeySet.import_key_set(orjson.loads(settings.http_oidc_jwks.read_bytes()))
        self.issuer = settings.http_oidc_issuer
        self.claim = settings.http_oidc_claim
        self.credential_id = uuid5(UUID(int=0), f"oidc:{self.issuer}")
        checks: dict[str, Any] = {"iss": {"essential": True, "value": self.issuer},
                                  "exp": {"essential": True}}
        if settings.http_oidc_audience:
            checks["aud"] = {"essential": True, "value": settings.http_oidc_audience}
        self.registry = jwt.JWTClaimsRegistry(**checks)

    def person(self, token: str) -> UUID:
        try:
            decoded = jwt.decode(token, self.keys, algorithms=JWT_ALGORITHMS)
            self.registry.validate(decoded.claims)
            return UUID(str(decoded.claims[self.claim]))
        except (JoseError, ValueError, KeyError) as e:
            raise Refused(f"single sign-on token not accepted: {type(e).__name__}") from None


class Gate:
    """The front door's guard for one app."""

    def __init__(self, credentials: Credentials, settings: Settings) -> None:
        self.credentials = credentials
        self.settings = settings
        self.key = secret_key(settings.http_secret_key)
        self.sessions = URLSafeTimedSerializer(self.key, salt="zhibao-session")
        self.logins = RateLimit(settings.http_login_rate)
        self.sso = SingleSignOn(settings) if settings.http_oidc_jwks else None

    # -- the API -------------------------------------------------------------------------

    def bearer(self, request: Request) -> Principal:
        """The principal of the request's bearer credential, or a 401 problem."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthorized("send Authorization: Bearer <API token or single sign-on JWT>")
        value = value.strip()
        try:
            if value.startswith(TOKEN_PREFIX):
                return self.credentials.token(value)
            if self.sso is None:
                raise Refused("not an API token, and no single sign-on issuer is configured")
            person_id = self.sso.person(value)
            person = self.credentials.app.directory.person(person_id)
            return Principal(person_id, person.org_id, self.sso.credential_id,
                             SINGLE_SIGN_ON)
        except Refused as e:
            raise unauthorized(e.reason) from None
        except ValueError as e:  # a claim naming no registered, active person
            raise unauthorized(str(e)) from None

    # -- the web workspace -----------------------------------------------------------------

    def open_session(self, principal: Principal) -> str:
        return self.sessions.dumps({"c": str(principal.credential_id), "e": principal.epoch,
                                    "n": secrets.token_urlsafe(16)})

    def session(self, request: Request) -> tuple[Principal, str] | None:
        """The signed-in principal and the session's nonce, or None."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            data = self.sessions.loads(cookie, max_age=self.settings.http_session_seconds)
            principal = self.credentials.session_principal(UUID(data["c"]), data["e"])
        except (BadSignature, Refused, KeyError, ValueError):
            return None
        return principal, data["n"]

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self.key, f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, nonce: str | None, sent: str | None) -> None:
        if not nonce or not sent or not hmac.compare_digest(self.csrf_token(nonce), sent):
            raise Problem(403, "forbidden", "csrf_token",
                          "the form is stale or not from this site: reload it and try again",
                          "CSRF")

    async def back_off(self, login: str) -> None:
        """Each failure in a row makes the next answer slower (up to 2 s)."""
        failures = self.credentials.failures(login)
        if failures:
            await asyncio.sleep(min(0.1 * 2 ** failures, 2.0))
