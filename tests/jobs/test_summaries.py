"""Meeting summaries of job transcripts against a local OpenAI-compatible chat server.

The gateway runs for real (uvicorn, embedded worker, mock provider); so does the chat server
(:mod:`tests.support.chat`), on loopback, which the URL guard allows only because the tests put
127.0.0.1 on ``STT_URL_ALLOWLIST``. A three-minute recording with a 512-token context needs
several map parts and a reduce.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.core.log_context import REDACTED
from app.services.summaries.parts import estimate_tokens
from app.services.summaries.summarizer import PROMPT_MARGIN
from tests.jobs.support import write_wav
from tests.support.chat import ChatServer, chat_server
from tests.support.jobs import post_upload, wait_job
from tests.support.server import running_server

KEY = "sk-summary-secret-4567"
MODEL = "meeting-llm"
CONTEXT, ANSWER = 512, 64
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def chat() -> Iterator[tuple[ChatServer, str]]:
    with chat_server() as started:
        yield started


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three minutes of audio: the mock provider makes 45 segments of it."""
    return write_wav(tmp_path_factory.mktemp("meeting") / "meeting.wav", seconds=180.0)


def with_summaries(settings: Settings, base_url: str, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "summary_api_base": base_url,
            "summary_api_key": SecretStr(KEY),
            "summary_model": MODEL,
            "summary_context_tokens": CONTEXT,
            "summary_answer_tokens": ANSWER,
            "summary_timeout_s": 5.0,
            "summary_max_retries": 2,
            "summary_backoff_s": 0.01,
            "url_allowlist": "127.0.0.1",
            **changes,
        }
    )


def run_job(client: httpx.Client, audio: Path, **fields: str) -> dict[str, Any]:
    return wait_job(client, post_upload(client, audio, **fields)["id"])


def stages(client: httpx.Client, job_id: str) -> list[str]:
    """The ``stage`` events of a finished job's event stream."""
    body = client.get(f"/v1/audio/jobs/{job_id}/events").text
    events = [block.split("\n") for block in body.split("\n\n")]
    return [
        json.loads(lines[2].removeprefix("data: "))["stage"]
        for lines in events
        if len(lines) > 2 and lines[1] == "event: stage"
    ]


def warning_codes(result: dict[str, Any]) -> list[str]:
    return [w["code"] for w in result["metadata"].get("warnings") or ()]


def test_a_meeting_is_summarised_in_parts_that_fit_the_context(
    api_settings: Settings, chat: tuple[ChatServer, str], meeting: Path
) -> None:
    server, base_url = chat
    settings = with_summaries(api_settings, base_url)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = run_job(client, meeting, summarize="true")
        assert job["status"] == "succeeded", job
        media = client.get(f"/v1/media/{job['media_id']}").json()
        job_stages = stages(client, job["id"])
        audit = [e["event"] for e in client.get(f"/v1/media/{media['id']}/events").json()["data"]]
        verbose = client.get(f"/v1/audio/jobs/{job['id']}/result?response_format=verbose_json")
    maps = server.maps()
    assert len(maps) >= 3 and len(server.reduces()) >= 1  # map-reduce, not one call
    for request in server.requests:  # prompt + transcript part + answer fit the context
        system, user = (m["content"] for m in request["messages"])
        used = estimate_tokens(system) + estimate_tokens(user) + PROMPT_MARGIN
        assert used + request["max_tokens"] <= CONTEXT
        assert request["model"] == MODEL and request["response_format"]["type"] == "json_object"
        assert "english" in system
    # the parts are the transcript: every segment once, in order
    lines = [line for part in maps for line in part.split("\n\n", 1)[1].split("\n")]
    segments = media["analysis_details"]["segments"]
    assert [line.split("] ", 1)[1] for line in lines] == [s["text"] for s in segments]
    # the reduce merged every part's notes, in order, into the stored and returned summary
    summary = job["result"]["summary"]
    assert summary["key_points"] == [f"covered parts 1-{len(maps)}"]
    assert summary["action_items"][0] == {"text": "follow up on part 1", "owner": "Alice"}
    assert summary["chunks"] == len(maps) and summary["structured"] is True
    assert summary["model"] == MODEL and summary["language"] == "en"
    assert "## Decisions\n- decision 1" in summary["text"]
    assert media["summary"] == summary
    assert "summary_failed" not in warning_codes(job["result"])
    assert "summary" not in verbose.json()  # only the json format carries it
    assert job_stages[-2:] == ["summary", "saving"]
    assert audit == ["created", "summarized"]
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"


@SQLITE_ONLY
def test_an_endpoint_that_fails_then_recovers_is_retried(
    api_settings: Settings, chat: tuple[ChatServer, str], meeting: Path
) -> None:
    server, base_url = chat
    server.fail_next = 2  # the first call answers 503 twice, then the model is back
    settings = with_summaries(api_settings, base_url, summary_max_retries=2)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = run_job(client, meeting, summarize="true")
    assert job["status"] == "succeeded"
    assert job["result"]["summary"]["chunks"] == len(server.maps())
    assert len(server.requests) == len(server.answered()) + 2
    assert server.requests[0]["messages"] == server.requests[2]["messages"]  # the same call
    assert "summary_failed" not in warning_codes(job["result"])


@SQLITE_ONLY
def test_an_endpoint_that_stays_down_leaves_a_warning_then_a_summary_on_demand(
    api_settings: Settings, chat: tuple[ChatServer, str], meeting: Path
) -> None:
    server, base_url = chat
    server.down = True
    settings = with_summaries(api_settings, base_url, summary_max_retries=1)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = run_job(client, meeting, summarize="true")
        assert job["status"] == "succeeded", job  # the transcription stands
        assert len(server.requests) == 2  # one call, retried once, then given up
        assert "summary" not in job["result"] and job["result"]["text"]
        (warning,) = [
            w for w in job["result"]["metadata"]["warnings"] if w["code"] == "summary_failed"
        ]
        assert warning["code"] == "summary_failed" and "503" in warning["message"]
        media_id = job["media_id"]
        assert client.get(f"/v1/media/{media_id}").json()["summary"] is None

        down = client.post(f"/v1/media/{media_id}/summary")
        assert down.status_code == 502
        assert down.json()["error"]["code"] == "summary_failed"

        server.down = False
        made = client.post(f"/v1/media/{media_id}/summary")
        assert made.status_code == 200, made.text
        media = client.get(f"/v1/media/{media_id}").json()
        again = client.get(f"/v1/audio/jobs/{job['id']}").json()
    assert made.json()["key_points"] == [f"covered parts 1-{len(server.maps())}"]
    assert media["summary"] == made.json() == again["result"]["summary"]
    assert "summary_failed" not in warning_codes(again["result"])  # the warning is resolved


@SQLITE_ONLY
def test_summaries_need_a_configured_endpoint(api_settings: Settings, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "a.wav", seconds=2.0)
    with running_server(api_settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        with open(audio, "rb") as handle:
            refused = client.post(
                "/v1/audio/jobs",
                files={"file": ("a.wav", handle, "audio/wav")},
                data={"model": "mock", "summarize": "true"},
            )
        job = run_job(client, audio)
        on_demand = client.post(f"/v1/media/{job['media_id']}/summary")
        missing = client.post("/v1/media/med_nope/summary")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "summaries_not_configured" and error["param"] == "summarize"
    assert "STT_SUMMARY_API_BASE" in error["message"]
    assert on_demand.status_code == 400
    assert on_demand.json()["error"]["code"] == "summaries_not_configured"
    assert missing.status_code == 404


@SQLITE_ONLY
def test_a_loopback_endpoint_needs_the_allowlist_and_the_key_is_never_logged(
    api_settings: Settings,
    chat: tuple[ChatServer, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, base_url = chat
    audio = write_wav(tmp_path / "a.wav", seconds=8.0)
    debug = api_settings.model_copy(update={"log_level": "DEBUG"})
    assert KEY in with_summaries(debug, base_url).secret_values()  # redacted if ever logged
    guarded = with_summaries(debug, base_url, url_allowlist="")
    with running_server(guarded) as url, httpx.Client(base_url=url, timeout=30) as client:
        blocked = run_job(client, audio, summarize="true")
    server.fail_status, server.down = 401, True  # a key the model server refuses
    with (
        running_server(with_summaries(debug, base_url)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        refused = run_job(client, audio, summarize="true")  # deduplicated: summarised only
    assert blocked["status"] == "succeeded"
    (warning,) = [
        w for w in blocked["result"]["metadata"]["warnings"] if w["code"] == "summary_failed"
    ]
    assert "STT_URL_ALLOWLIST" in warning["message"]
    assert refused["status"] == "succeeded" and len(server.requests) == 1  # 401: no retries
    assert "401" in json.dumps(refused["result"]["metadata"]["warnings"])
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # the key was sent
    output = capfd.readouterr().err + json.dumps([blocked, refused])
    assert "no summary" in output and KEY not in output
    assert REDACTED not in output  # not even an attempt: nothing logged the key
