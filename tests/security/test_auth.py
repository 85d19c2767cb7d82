"""Authentication modes, JWT claim checks and the settings guard-rails."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.core.auth import LOCAL_USER, Authenticator, credentials_from_headers
from app.core.config import ConfigError, Settings
from schemas.auth import Scope
from schemas.errors import AuthenticationError
from tests.security.conftest import API_KEY, JWT_SECRET, token

SettingsFactory = Callable[..., Settings]


def jwt_auth(make_settings: SettingsFactory, **overrides: object) -> Authenticator:
    return Authenticator(make_settings(auth_mode="jwt", jwt_secret=JWT_SECRET, **overrides))


def test_none_mode_is_the_local_user(make_settings: SettingsFactory) -> None:
    auth = Authenticator(make_settings())
    assert auth.mode == "none" and not auth.required
    assert auth.authenticate(None) == LOCAL_USER


def test_api_key_mode(make_settings: SettingsFactory) -> None:
    auth = Authenticator(make_settings(auth_mode="api_key", api_key=API_KEY, api_key_user="ops"))
    principal = auth.authenticate(API_KEY)
    assert principal.user_id == "ops" and principal.scopes == frozenset(Scope)
    for bad, code in (
        (None, "missing_credentials"),
        ("", "missing_credentials"),
        (API_KEY + "x", "invalid_api_key"),
        ("x" * 9000, "invalid_token"),
    ):
        with pytest.raises(AuthenticationError) as info:
            auth.authenticate(bad)
        assert info.value.code == code


def test_jwt_hs256_scopes_and_subject(make_settings: SettingsFactory) -> None:
    auth = jwt_auth(make_settings)
    principal = auth.authenticate(token("bob", "transcribe jobs unknown-scope"))
    assert principal.user_id == "bob"
    assert principal.scopes == {Scope.TRANSCRIBE, Scope.JOBS}
    assert auth.authenticate(token("bob", ["stream"])).scopes == {Scope.STREAM}
    assert auth.authenticate(token("bob", None)).scopes == frozenset()


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: token(exp_in=-120), "token_expired"),
        (lambda: token(secret="another-secret-" + "x" * 64), "invalid_token"),
        (lambda: "not.a.jwt", "invalid_token"),
        (lambda: jwt.encode({"sub": "a"}, JWT_SECRET, algorithm="HS256"), "invalid_token"),
        (lambda: jwt.encode({"exp": time.time() + 60}, JWT_SECRET, "HS256"), "invalid_token"),
        (lambda: token(secret=JWT_SECRET, algorithm="HS512"), "invalid_token"),
        (lambda: jwt.encode({"sub": "a", "exp": time.time() + 60}, None, "none"), "invalid_token"),
        (lambda: token(sub="a\nb"), "invalid_api_key"),
        (lambda: token(aud="someone-else"), "invalid_token"),
    ],
    ids=[
        "expired",
        "wrong-key",
        "garbage",
        "no-exp",
        "no-sub",
        "wrong-alg",
        "alg-none",
        "control-chars-in-sub",
        "unexpected-audience",
    ],
)
def test_jwt_rejections(make_settings: SettingsFactory, make: Callable[[], str], code: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        jwt_auth(make_settings).authenticate(make())
    assert info.value.code == code
    assert JWT_SECRET not in info.value.message


def test_jwt_audience_and_issuer(make_settings: SettingsFactory) -> None:
    auth = jwt_auth(make_settings, jwt_audience="stt", jwt_issuer="https://idp.example")
    good = token(aud="stt", iss="https://idp.example")
    assert auth.authenticate(good).user_id == "alice"
    for bad in (
        token(iss="https://idp.example"),
        token(aud="stt"),
        token(aud="other", iss="https://idp.example"),
    ):
        with pytest.raises(AuthenticationError):
            auth.authenticate(bad)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_jwt_public_key(make_settings: SettingsFactory, tmp_path, algorithm: str) -> None:
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signed = jwt.encode(
        {"sub": "carol", "scope": "admin", "exp": time.time() + 60}, private, algorithm=algorithm
    )
    key_file = tmp_path / "public.pem"
    key_file.write_text(pem)
    for key in (pem, str(key_file)):
        auth = Authenticator(
            make_settings(auth_mode="jwt", jwt_algorithm=algorithm, jwt_public_key=key)
        )
        principal = auth.authenticate(signed)
        assert principal.user_id == "carol" and principal.has(Scope.JOBS)
    # An HS256 token signed with the public key as secret (algorithm confusion) is refused.
    forged = jwt.encode({"sub": "eve", "exp": time.time() + 60}, "x" * 64, algorithm="HS256")
    with pytest.raises(AuthenticationError):
        auth.authenticate(forged)


@pytest.mark.parametrize(
    "overrides",
    [
        {"auth_mode": "api_key"},
        {"auth_mode": "api_key", "api_key": "short"},
        {"auth_mode": "jwt"},
        {"auth_mode": "jwt", "jwt_secret": "too-short"},
        {"auth_mode": "jwt", "jwt_algorithm": "RS256"},
        {"auth_mode": "jwt", "jwt_algorithm": "none", "jwt_secret": JWT_SECRET},
        {"host": "0.0.0.0"},
        {"rate_limit_per_user": "lots"},
        {"rate_limit_providers": "mock"},
        {"storage_encryption_key": "not-a-key"},
    ],
)
def test_settings_refuse_unsafe_or_incoherent_auth(
    make_settings: SettingsFactory, overrides: dict[str, object]
) -> None:
    with pytest.raises(ConfigError) as info:
        make_settings(**overrides)
    for name in ("api_key", "jwt_secret", "storage_encryption_key"):  # never echo secrets
        if name in overrides:
            assert str(overrides[name]) not in str(info.value)


def test_remote_no_auth_needs_an_explicit_opt_in(make_settings: SettingsFactory) -> None:
    settings = make_settings(host="0.0.0.0", allow_remote_no_auth=True)
    assert settings.auth_mode == "none"
    assert make_settings(host="::1").auth_mode == "none"


def test_credentials_from_headers() -> None:
    assert credentials_from_headers({}) is None
    assert credentials_from_headers({"authorization": "Bearer abc"}) == "abc"
    assert credentials_from_headers({"authorization": "bearer  abc "}) == "abc"
    assert credentials_from_headers({"x-api-key": "k"}) == "k"
    for bad in ("Basic dXNlcjpwdw==", "Bearer", "Token abc"):
        with pytest.raises(AuthenticationError):
            credentials_from_headers({"authorization": bad})
