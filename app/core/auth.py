"""Authentication: turn request credentials into a :class:`Principal`.

Only ``auth_mode=none`` (local development: everyone is the single local user with every scope)
is wired so far; API-key and JWT modes are the security work's to add here.
"""

from __future__ import annotations

from schemas.auth import Principal, Scope

LOCAL_USER = Principal(user_id="local", scopes=frozenset(Scope))


def authenticate_none() -> Principal:
    return LOCAL_USER
