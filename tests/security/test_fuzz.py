"""Fuzz the REST API from the gateway's own OpenAPI schema (schemathesis + hypothesis): the
schema is valid and every reference in it resolves, no 5xx, and every response conforms to the
schema (status codes, content types, bodies)."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.config import SchemathesisWarning

from app.main import create_app
from tests.security.conftest import API_KEY, FAST

MAX_EXAMPLES = 40
# The bar: no 5xx, and every response (status, content type, headers, body) matches the
# schema. Not "positive data acceptance": a schema-valid form can still name an unknown model or
# carry random bytes as the file, and those are rightly refused with a documented 4xx.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def test_api_conforms_to_its_schema(make_settings: Any) -> None:
    app = create_app(
        make_settings(
            **FAST,
            auth_mode="api_key",
            api_key=API_KEY,
            max_file_size_mb=1,
            max_audio_duration_s=30,
            log_level="ERROR",
        )
    )
    with TestClient(app):  # runs the lifespan: the gateway exists while the fuzzer calls
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.validate()  # against the OpenAPI meta-schema
        # A part whose $ref does not resolve (e.g. a form's local #/$defs) is skipped silently
        # by the generator: no such warning, and every documented request body is fuzzed.
        unresolvable = [
            w.message
            for w in schema.analysis.iter_warnings()
            if w.kind is SchemathesisWarning.UNRESOLVABLE_REFERENCE
        ]
        assert unresolvable == []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/audio/transcriptions", "/v1/models"}
        assert all(not op.skipped_parameters for op in operations)
        with_body = {(op.method.upper(), op.path) for op in operations if list(op.body)}
        assert with_body >= {
            ("POST", "/v1/audio/transcriptions"),
            ("POST", "/v1/audio/translations"),
            ("POST", "/v1/audio/jobs"),
        }
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def fuzz(case: Any) -> None:
                case.call_and_validate(headers={"X-API-Key": API_KEY}, checks=CHECKS)

            fuzz()
