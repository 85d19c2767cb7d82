"""The served OpenAPI document: valid (openapi-spec-validator), every ``$ref`` resolves, the
routes that stream their uploads document their request bodies, and a 405's ``Allow`` header
lists every method the document gives the path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from tests.security.conftest import ClientFactory

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def document(make_client: ClientFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    with make_client(embedded_worker=False, log_level="ERROR") as client:
        reply = client.get("/openapi.json")
        assert reply.status_code == 200
        yield client, reply.json()


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` in the document, with where it occurs."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{where}/{index}")


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable: {ref}"
        node = node[part]
    return node


def body_schema(doc: dict[str, Any], path: str, media_type: str) -> dict[str, Any]:
    body = doc["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"][media_type]["schema"]
    assert set(schema) == {"$ref"}, "request bodies are components"
    resolved: dict[str, Any] = resolve(doc, schema["$ref"])
    return resolved


def test_the_document_is_valid(document: tuple[TestClient, dict[str, Any]]) -> None:
    validate(document[1])  # raises on the first error


def test_every_reference_resolves(document: tuple[TestClient, dict[str, Any]]) -> None:
    doc = document[1]
    found = list(refs(doc))
    assert found
    for where, ref in found:
        assert ref.startswith("#/components/"), f"{where}: {ref}"
        resolve(doc, ref)


def test_upload_routes_document_their_bodies(document: tuple[TestClient, dict[str, Any]]) -> None:
    doc = document[1]
    transcription = body_schema(doc, "/v1/audio/transcriptions", "multipart/form-data")
    assert set(transcription["required"]) == {"file", "model"}
    assert transcription["properties"]["file"]["format"] == "binary"
    assert {"language", "stream", "response_format"} <= set(transcription["properties"])
    translation = body_schema(doc, "/v1/audio/translations", "multipart/form-data")
    assert not {"language", "stream", "timestamp_granularities"} & set(translation["properties"])

    upload = body_schema(doc, "/v1/audio/jobs", "multipart/form-data")
    assert upload["required"] == ["file"] and upload["additionalProperties"] is False
    assert {"file", "model", "priority", "pool", "url", "response_format"} <= set(
        upload["properties"]
    )
    assert "stream" not in upload["properties"]
    url_job = body_schema(doc, "/v1/audio/jobs", "application/json")
    assert url_job["required"] == ["url"] and "file" not in url_job["properties"]
    assert url_job["properties"]["url"]["type"] == "string"

    post = doc["paths"]["/v1/audio/jobs"]["post"]
    assert {"200", "202"} <= set(post["responses"])  # a replayed Idempotency-Key: 200
    key = next(p for p in post["parameters"] if p["name"].lower() == "idempotency-key")
    assert key["schema"]["anyOf"][0]["minLength"] == 1


def test_405_allow_lists_every_documented_method(
    document: tuple[TestClient, dict[str, Any]],
) -> None:
    client, doc = document
    for path, item in doc["paths"].items():
        documented = {m.upper() for m in item if m in HTTP_METHODS}
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in ("OPTIONS", "PUT", "PATCH", "DELETE", "POST"):
            if method in documented:
                continue
            reply = client.request(method, concrete)
            assert reply.status_code == 405, (method, path, reply.status_code)
            allow = {m.strip() for m in reply.headers["allow"].split(",")}
            assert allow - {"HEAD"} == documented, (method, path, allow)
