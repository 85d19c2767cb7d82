"""The gateway's error tree and OpenAI's error envelope.

Every error the gateway raises on purpose derives from :class:`GatewayError`. Each class fixes its
HTTP status, OpenAI error ``type`` and machine ``code``; ``app.core.errors`` maps them to
responses and WebSocket close codes in one place, so callers only raise.

GatewayError
├── InvalidRequest          400 invalid_request_error   bad parameter or form
│   ├── CapabilityNotSupported  400  the provider/model cannot do what was asked
│   ├── AudioDecodeError        400  the bytes look like audio but do not decode
│   └── TranscriptionCancelled  400  the client went away; its transcription stopped early
├── AuthenticationError     401
├── PermissionDenied        403
├── NotFound                404
│   └── ModelNotFound           404  unknown or unavailable model id
├── Conflict                409
│   ├── InvalidTransition       409  a job state change that its current state does not allow
│   ├── LeaseLost               409  a worker's lease expired or was taken over: write refused
│   └── JobCancelled            409  the job was cancelled; its worker stops at the next checkpoint
├── RequestTimeout          408  the request body stalled (STT_HTTP_BODY_TIMEOUT_S)
├── PayloadTooLarge         413  upload over STT_MAX_FILE_SIZE_MB (jobs: STT_JOB_MAX_FILE_SIZE_MB),
│                                a body over STT_MAX_JSON_BODY_KB
├── UnsupportedMediaType    415  the upload is not audio
├── RateLimited             429  (carries retry_after seconds)
├── InsufficientStorage     507  an upload would leave less free disk than STT_MIN_FREE_DISK_MB
├── ProviderError           500-class provider failure
│   ├── RetriableProviderError  503 timeouts, 429/5xx upstream, OOM; safe to retry
│   └── FatalProviderError      500 the provider failed in a way retrying cannot fix
├── SummaryFailed           502  the summary endpoint (STT_SUMMARY_API_BASE) failed or is down
└── ServiceUnavailable      503  capacity exhausted or dependency down (carries retry_after)
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorDetail


class GatewayError(Exception):
    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code
        self.retry_after = retry_after

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(
            error=ErrorDetail(
                message=self.message, type=self.error_type, param=self.param, code=self.code
            )
        )


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class CapabilityNotSupported(InvalidRequest):
    default_code = "capability_not_supported"


class AudioDecodeError(InvalidRequest):
    default_code = "invalid_audio"


class TranscriptionCancelled(InvalidRequest):
    """Raised in the worker thread at the next segment after the requester disconnected."""

    default_code = "client_disconnected"


class AuthenticationError(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status_code = 403
    error_type = "permission_error"
    default_code = "insufficient_scope"


class NotFound(GatewayError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class Conflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class InvalidTransition(Conflict):
    """Raised when a job is not in a state from which the requested change is allowed."""

    default_code = "invalid_transition"


class LeaseLost(Conflict):
    """Raised to a worker whose lease (worker id + lease id) no longer holds the job or chunk."""

    default_code = "lease_lost"


class JobCancelled(Conflict):
    """Raised inside a worker at a checkpoint when the job's owner asked to cancel it."""

    default_code = "job_cancelled"


class RequestTimeout(GatewayError):
    status_code = 408
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "file_too_large"


class UnsupportedMediaType(GatewayError):
    status_code = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"


class RateLimited(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class InsufficientStorage(GatewayError):
    status_code = 507
    error_type = "server_error"
    default_code = "insufficient_storage"


class ProviderError(GatewayError):
    """A provider failed. ``retriable`` tells the fallback chain and job queue what to do."""

    retriable: ClassVar[bool] = False


class RetriableProviderError(ProviderError):
    status_code = 503
    error_type = "server_error"
    default_code = "provider_unavailable"
    retriable = True


class FatalProviderError(ProviderError):
    status_code = 500
    error_type = "server_error"
    default_code = "provider_error"


class SummaryFailed(GatewayError):
    """The chat endpoint that writes summaries failed (after its retries) or is not allowed.
    A job's summary failure is a warning, never the job's failure; on demand it is a 502."""

    status_code = 502
    error_type = "server_error"
    default_code = "summary_failed"


class ServiceUnavailable(GatewayError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"
