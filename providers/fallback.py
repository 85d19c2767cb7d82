"""Walk a fallback chain: try each target in order until one succeeds.

A chain is the request's resolved target followed by its fallbacks (GPU -> CPU twin -> the
configured or requested alternates; see :meth:`ProviderRegistry.chain`). A target is skipped
while its provider's circuit breaker is open. Provider failures (:class:`ProviderError`,
retriable or fatal) move on to the next target; client errors (bad options, unsupported
language) are the caller's and end the walk at once. Every move is logged and reported to
``on_fallback`` (the gateway counts it in ``audio_stt_fallbacks_total``).

Synchronous: it runs in the inference pool's worker thread, like the providers themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from loguru import logger

from providers.breaker import BreakerBoard
from providers.registry import Resolved
from schemas.errors import GatewayError, ProviderError, ServiceUnavailable

T = TypeVar("T")
FallbackHook = Callable[[Resolved, Resolved, str], None]
CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True)
class Attempt:
    """One target that did not serve the request, and why (an error code)."""

    target: str
    reason: str
    message: str


@dataclass(frozen=True)
class ChainResult:
    served_by: Resolved
    attempts: tuple[Attempt, ...]

    @property
    def fallback_from(self) -> str | None:
        """The label of the target the request asked for, when another one served it."""
        return self.attempts[0].target if self.attempts else None


def run_chain(
    chain: Sequence[Resolved],
    call: Callable[[Resolved], T],
    breakers: BreakerBoard,
    *,
    on_fallback: FallbackHook | None = None,
) -> tuple[T, ChainResult]:
    """Return ``call(target)`` for the first target that succeeds, and how it got there."""
    if not chain:
        raise ValueError("empty fallback chain")
    attempts: list[Attempt] = []
    last_error: ProviderError | None = None
    for index, target in enumerate(chain):
        breaker = breakers.get(target.provider.name)
        if not breaker.allow():
            attempts.append(
                Attempt(target.label, CIRCUIT_OPEN, f"circuit open for {target.provider.name}")
            )
            _moved(chain, index, CIRCUIT_OPEN, on_fallback)
            continue
        try:
            result = call(target)
        except ProviderError as exc:
            breaker.record_failure(f"{exc.code}: {exc.message}")
            attempts.append(Attempt(target.label, exc.code, exc.message))
            last_error = exc
            _moved(chain, index, exc.code, on_fallback)
            continue
        except BaseException:
            breaker.release()  # the caller's error, or a bug: no verdict on the provider
            raise
        breaker.record_success()
        return result, ChainResult(target, tuple(attempts))
    raise _exhausted(chain, attempts, last_error, breakers)


def _moved(
    chain: Sequence[Resolved], index: int, reason: str, on_fallback: FallbackHook | None
) -> None:
    if index + 1 >= len(chain):
        return
    source, target = chain[index], chain[index + 1]
    logger.warning("fallback: {} -> {} ({})", source.label, target.label, reason)
    if on_fallback is not None:
        on_fallback(source, target, reason)


def _exhausted(
    chain: Sequence[Resolved],
    attempts: list[Attempt],
    last_error: ProviderError | None,
    breakers: BreakerBoard,
) -> GatewayError:
    summary = "; ".join(f"{a.target}: {a.reason}" for a in attempts)
    if last_error is None:  # every target was skipped by an open breaker
        wait = min(breakers.get(t.provider.name).retry_in() for t in chain)
        return ServiceUnavailable(
            f"no provider is accepting work for this model after repeated failures ({summary}); "
            f"retry in {wait:.0f}s",
            code=CIRCUIT_OPEN,
            retry_after=max(1.0, wait),
        )
    if len(chain) == 1:
        return last_error
    error = type(last_error)(
        f"every provider in the fallback chain failed ({summary}); last: {last_error.message}",
        param=last_error.param,
        code=last_error.code,
        retry_after=last_error.retry_after,
    )
    error.__cause__ = last_error
    return error
