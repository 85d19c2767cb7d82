"""Who is calling: the authenticated principal every route, job and media row is scoped to."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict


class Scope(str, Enum):
    TRANSCRIBE = "transcribe"
    STREAM = "stream"
    JOBS = "jobs"
    ADMIN = "admin"


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes
