"""Webhook signatures (verify(sign(x)), tamper detection, the replay window) and the backoff
schedule (monotonic, capped, jitter within 80-100 % of the step)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from hypothesis import given
from hypothesis import strategies as st

from app.services.jobs.webhook_delivery import backoff, backoff_step
from app.services.jobs.webhook_signing import headers, sign, verify

secrets_ = st.text(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)
stamps = st.integers(min_value=1_000_000_000, max_value=4_000_000_000)


@given(secret=secrets_, body=bodies, ts=stamps)
def test_verify_accepts_what_sign_signed(secret: str, body: bytes, ts: int) -> None:
    signature = sign(secret, ts, body)
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify(secret, body, str(ts), signature, now=ts + 10)
    # a receiver rotating secrets may be sent several signatures; any one verifying is enough
    assert verify(secret, body, str(ts), f"v1=deadbeef {signature}", now=ts)


@given(secret=secrets_, body=bodies, ts=stamps, flip=st.integers(min_value=0))
def test_any_tampering_is_detected(secret: str, body: bytes, ts: int, flip: int) -> None:
    signature = sign(secret, ts, body)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert not verify(secret, tampered, str(ts), signature, now=ts)
    assert not verify(secret, body + b" ", str(ts), signature, now=ts)
    assert not verify(secret + "x", body, str(ts), signature, now=ts)
    assert not verify(secret, body, str(ts + 1), signature, now=ts)  # timestamp is signed
    assert not verify(secret, body, "not-a-number", signature, now=ts)


def test_timestamps_outside_the_tolerance_are_refused() -> None:
    signature = sign("k", 1_000, b"{}")
    assert verify("k", b"{}", "1000", signature, now=1_300)
    assert not verify("k", b"{}", "1000", signature, now=1_301)
    assert not verify("k", b"{}", "1000", signature, now=699)


def test_headers_carry_id_timestamp_and_signature() -> None:
    sent = headers("k", "evt_1", 1_000, b"{}")
    assert sent["Webhook-Id"] == "evt_1" and sent["Webhook-Timestamp"] == "1000"
    assert sent["Webhook-Signature"] == sign("k", 1_000, b"{}")
    assert "Webhook-Signature" not in headers(None, "evt_1", 1_000, b"{}")


@given(
    base=st.floats(min_value=0.01, max_value=3600),
    cap=st.floats(min_value=0.01, max_value=86_400),
    attempt=st.integers(min_value=1, max_value=500),
)
def test_backoff_is_monotonic_capped_and_jittered(base: float, cap: float, attempt: int) -> None:
    step = backoff_step(attempt, base, cap)
    assert step <= cap
    assert backoff_step(attempt + 1, base, cap) >= step
    assert 0.8 * step <= backoff(attempt, base, cap) <= step


def test_default_schedule_spans_more_than_a_day() -> None:
    steps = [backoff_step(n, 10.0, 10_800.0) for n in range(1, 20)]  # 20 attempts, 19 waits
    assert steps[:4] == [10.0, 30.0, 90.0, 270.0]
    assert 0.8 * sum(steps) > 24 * 3600


def test_the_documented_verification_snippet_accepts_our_signatures() -> None:
    """Docs/Webhooks.md's receiver snippet, run as written."""
    import re
    import time
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "Docs" / "Webhooks.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    scope: dict[str, object] = {}
    exec(snippet, scope)
    verify_webhook = cast(Callable[[str, bytes, dict[str, str]], bool], scope["verify_webhook"])
    now = int(time.time())
    body = b'{"id":"evt_1"}'
    sent = headers("k", "evt_1", now, body)
    assert verify_webhook("k", body, sent)
    assert not verify_webhook("k", body + b" ", sent)
    assert not verify_webhook("k", body, headers("k", "evt_1", now - 301, body))
