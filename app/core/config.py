"""All gateway settings, in one validated object.

Precedence, highest first: explicit keyword arguments (tests, request overrides are validated
separately in ``app.api.forms``) > process environment > ``.env`` > ``Config_Files/.env`` >
``Config_Files/config.txt`` section ``[STT-Settings]`` > defaults.

Environment names are the public contract (DESIGN.md section 8); attribute names are their
lower-case short forms. This is the only module that reads the environment; the transcript
intelligence settings are declared in ``app.core.intelligence_settings``, which ``Settings``
extends.
"""

from __future__ import annotations

import configparser
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.core.intelligence_settings import IntelligenceSettings
from app.core.intelligence_settings import env as _env
from app.core.settings_checks import check_auth, decode_key, parse_provider_limits, parse_rate
from schemas.languages import normalise_language

CONFIG_SECTION = "STT-Settings"
DEFAULT_CONFIG_FILE = Path("Config_Files/config.txt")
_SECRET_MARKERS = ("KEY", "SECRET", "PASSWORD", "TOKEN")


class ConfigError(ValueError):
    """A setting has a bad value; the message names the key."""


class Settings(IntelligenceSettings):
    model_config = SettingsConfigDict(
        env_file=("Config_Files/.env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        frozen=True,
    )

    # storage and serving
    data_dir: Path = _env("STT_DATA_DIR", Path(".stt-data"))
    database_url: str | None = _env("STT_DATABASE_URL", None)
    host: str = _env("STT_HOST", "127.0.0.1")
    port: int = _env("STT_PORT", 8000, ge=1, le=65535)
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = _env("STT_LOG_LEVEL", "INFO")
    log_json: bool = _env("STT_LOG_JSON", False)

    # providers and models
    default_provider: str = _env("DEFAULT_STT_PROVIDER", "faster-whisper")
    default_model: str = _env("STT_DEFAULT_MODEL", "tiny.en", min_length=1)
    translation_model: str = _env("STT_TRANSLATION_MODEL", "base", min_length=1)
    model_dir: Path | None = _env("STT_MODEL_DIR", None)
    allow_model_downloads: bool = _env("STT_ALLOW_MODEL_DOWNLOADS", False)
    force_cpu: bool = _env("STT_FORCE_CPU", False)
    cpu_threads: int = _env("STT_CPU_THREADS", 0, ge=0, le=256)
    batched_min_duration_s: float = _env("STT_BATCHED_MIN_DURATION_S", 60.0, ge=0)
    batch_size: int = _env("STT_BATCH_SIZE", 16, ge=1, le=64)
    # transcript segments end at sentences and pauses, and are never longer than this
    segment_max_s: float = _env("STT_SEGMENT_MAX_S", 15.0, ge=2, le=30)
    segment_pause_s: float = _env("STT_SEGMENT_PAUSE_S", 0.8, ge=0.1, le=10)
    # SRT/WebVTT cues (common subtitle rules): lines per cue, characters per line, seconds
    caption_max_lines: int = _env("STT_CAPTION_MAX_LINES", 2, ge=1, le=4)
    caption_max_line_chars: int = _env("STT_CAPTION_MAX_LINE_CHARS", 42, ge=10, le=200)
    caption_max_cue_s: float = _env("STT_CAPTION_MAX_CUE_S", 7.0, ge=1, le=30)
    mock_fixture: Path | None = _env("STT_MOCK_FIXTURE", None)
    mock_seed: int = _env("STT_MOCK_SEED", 0)

    # concurrency
    max_concurrent_transcriptions: int = _env("STT_MAX_CONCURRENT_TRANSCRIPTIONS", 1, ge=1, le=64)
    max_queued_transcriptions: int = _env("STT_MAX_QUEUED_TRANSCRIPTIONS", 32, ge=0, le=10_000)

    # live streaming over WebSocket (Docs/Streaming.md)
    streaming_enabled: bool = _env("STT_STREAMING_ENABLED", True)
    stream_max_sessions: int = _env("STT_STREAM_MAX_SESSIONS", 4, ge=1, le=10_000)
    stream_decode_workers: int = _env("STT_STREAM_DECODE_WORKERS", 2, ge=1, le=64)
    stream_cpu_threads: int = _env("STT_STREAM_CPU_THREADS", 0, ge=0, le=256)
    stream_encoder_context_s: float = _env("STT_STREAM_ENCODER_CONTEXT_S", 30.0, ge=5, le=30)
    stream_beam_size: int = _env("STT_STREAM_BEAM_SIZE", 5, ge=1, le=20)
    stream_idle_timeout_s: float = _env("STT_STREAM_IDLE_TIMEOUT_S", 30.0, gt=0, le=3600)
    stream_max_session_s: float = _env("STT_STREAM_MAX_SESSION_S", 14_400.0, gt=0, le=86_400)
    stream_max_message_bytes: int = _env(
        "STT_STREAM_MAX_MESSAGE_BYTES", 1_048_576, ge=1024, le=16 * 1024 * 1024
    )
    stream_max_buffered_ms: int = _env("STT_STREAM_MAX_BUFFERED_MS", 5000, ge=500, le=120_000)
    stream_min_step_ms: int = _env("STT_STREAM_MIN_STEP_MS", 500, ge=100, le=5000)
    stream_max_step_ms: int = _env("STT_STREAM_MAX_STEP_MS", 3000, ge=200, le=10_000)
    stream_max_buffer_s: float = _env("STT_STREAM_MAX_BUFFER_S", 12.0, ge=2, le=25)
    stream_vad_silence_ms: int = _env("STT_STREAM_VAD_SILENCE_MS", 600, ge=100, le=10_000)
    stream_vad_threshold: float = _env("STT_STREAM_VAD_THRESHOLD", 0.5, gt=0, lt=1)
    stream_max_protocol_errors: int = _env("STT_STREAM_MAX_PROTOCOL_ERRORS", 20, ge=1, le=10_000)

    # input bounds
    max_file_size_mb: float = _env("STT_MAX_FILE_SIZE_MB", 25.0, gt=0, le=4096)
    max_audio_duration_s: float = _env("STT_MAX_AUDIO_DURATION_S", 7200.0, gt=0, le=86_400)
    # background jobs and URL downloads have their own caps (Docs/Long_Recordings.md)
    job_max_file_size_mb: float = _env("STT_JOB_MAX_FILE_SIZE_MB", 4096.0, gt=0, le=1_048_576)
    job_max_audio_duration_s: float = _env(
        "STT_JOB_MAX_AUDIO_DURATION_S", 43_200.0, gt=0, le=7 * 86_400
    )
    # uploads are refused (507) when they would leave less free disk than this
    min_free_disk_mb: int = _env("STT_MIN_FREE_DISK_MB", 1024, ge=0, le=10_485_760)
    max_prompt_chars: int = _env("STT_MAX_PROMPT_CHARS", 1000, ge=0, le=10_000)
    max_prompt_tokens: int = _env("STT_MAX_PROMPT_TOKENS", 224, ge=0, le=448)
    max_beam_size: int = _env("STT_MAX_BEAM_SIZE", 10, ge=1, le=20)
    default_beam_size: int = _env("STT_DEFAULT_BEAM_SIZE", 5, ge=1, le=20)

    # HTTP intake limits, enforced while bytes arrive (app.core.request_limits, http_server)
    http_header_timeout_s: float = _env("STT_HTTP_HEADER_TIMEOUT_S", 10.0, gt=0, le=600)
    http_body_timeout_s: float = _env("STT_HTTP_BODY_TIMEOUT_S", 30.0, gt=0, le=3600)
    http_body_min_bytes_per_s: int = _env("STT_HTTP_BODY_MIN_BYTES_PER_S", 1024, ge=0, le=2**30)
    max_json_body_kb: int = _env("STT_MAX_JSON_BODY_KB", 64, ge=1, le=16_384)
    max_concurrent_uploads_per_client: int = _env(
        "STT_MAX_CONCURRENT_UPLOADS_PER_CLIENT", 8, ge=1, le=10_000
    )

    # background jobs and workers (Docs/Jobs.md)
    embedded_worker: bool = _env("STT_EMBEDDED_WORKER", True)
    embedded_worker_concurrency: int = _env("STT_EMBEDDED_WORKER_CONCURRENCY", 1, ge=1, le=64)
    job_lease_seconds: float = _env("STT_JOB_LEASE_SECONDS", 60.0, ge=1, le=3600)
    job_max_attempts: int = _env("STT_JOB_MAX_ATTEMPTS", 3, ge=1, le=100)
    job_retry_base_s: float = _env("STT_JOB_RETRY_BASE_S", 5.0, ge=0, le=3600)
    job_retry_max_s: float = _env("STT_JOB_RETRY_MAX_S", 600.0, ge=0, le=86_400)
    worker_poll_s: float = _env("STT_WORKER_POLL_S", 2.0, gt=0, le=60)
    worker_shutdown_grace_s: float = _env("STT_WORKER_SHUTDOWN_GRACE_S", 30.0, ge=0, le=3600)
    job_chunk_seconds: float = _env("STT_JOB_CHUNK_SECONDS", 120.0, ge=10, le=3600)
    job_chunk_overlap_s: float = _env("STT_JOB_CHUNK_OVERLAP_S", 1.0, ge=0, le=10)
    url_fetch_timeout_s: float = _env("STT_URL_FETCH_TIMEOUT_S", 300.0, gt=0, le=86_400)
    url_allowlist: str = _env("STT_URL_ALLOWLIST", "")

    # webhooks for job events (Docs/Webhooks.md)
    webhook_secret: SecretStr | None = _env("STT_WEBHOOK_SECRET", None)
    webhook_default_url: str | None = _env("STT_WEBHOOK_DEFAULT_URL", None, max_length=2048)
    webhook_max_attempts: int = _env("STT_WEBHOOK_MAX_ATTEMPTS", 20, ge=1, le=100)
    webhook_backoff_base_s: float = _env("STT_WEBHOOK_BACKOFF_BASE_S", 10.0, gt=0, le=86_400)
    webhook_backoff_max_s: float = _env("STT_WEBHOOK_BACKOFF_MAX_S", 10_800.0, gt=0, le=86_400)
    webhook_timeout_s: float = _env("STT_WEBHOOK_TIMEOUT_S", 10.0, gt=0, le=300)
    webhook_poll_s: float = _env("STT_WEBHOOK_POLL_S", 2.0, gt=0, le=60)
    webhook_concurrency: int = _env("STT_WEBHOOK_CONCURRENCY", 8, ge=1, le=256)
    public_base_url: str | None = _env("STT_PUBLIC_BASE_URL", None, max_length=2048)
    # the browser page at / and browsers on other origins (Docs/Web_UI.md)
    web_ui_enabled: bool = _env("STT_WEB_UI_ENABLED", True)
    cors_origins: str = _env("STT_CORS_ORIGINS", "")

    # authentication (Docs/Security_and_Operations.md)
    auth_mode: Literal["none", "api_key", "jwt"] = _env("STT_AUTH_MODE", "none")
    allow_remote_no_auth: bool = _env("STT_ALLOW_REMOTE_NO_AUTH", False)
    api_key: SecretStr | None = _env("STT_API_KEY", None)
    api_key_user: str = _env("STT_API_KEY_USER", "default", min_length=1, max_length=128)
    jwt_secret: SecretStr | None = _env("STT_JWT_SECRET", None)
    jwt_public_key: str | None = _env("STT_JWT_PUBLIC_KEY", None)
    jwt_algorithm: str = _env("STT_JWT_ALGORITHM", "HS256")
    jwt_audience: str | None = _env("STT_JWT_AUDIENCE", None)
    jwt_issuer: str | None = _env("STT_JWT_ISSUER", None)
    jwt_scope_claim: str = _env("STT_JWT_SCOPE_CLAIM", "scope", min_length=1)
    jwt_leeway_s: float = _env("STT_JWT_LEEWAY_S", 30.0, ge=0, le=600)
    ws_allow_query_token: bool = _env("STT_WS_ALLOW_QUERY_TOKEN", False)
    ws_auth_timeout_s: float = _env("STT_WS_AUTH_TIMEOUT_S", 10.0, gt=0, le=120)
    # WebSocket pings every this many seconds (0: none); no pong timeout, see app.core.http_server
    ws_ping_interval_s: float = _env("STT_WS_PING_INTERVAL_S", 20.0, ge=0, le=3600)
    metrics_enabled: bool = _env("STT_METRICS_ENABLED", True)
    metrics_token: SecretStr | None = _env("STT_METRICS_TOKEN", None)

    # rate limits and per-user caps
    redis_url: SecretStr | None = _env("STT_REDIS_URL", None)
    # while Redis is down: open (limits off, caps per replica) | closed (503)
    redis_failure_policy: Literal["open", "closed"] = _env("STT_REDIS_FAILURE_POLICY", "open")
    redis_timeout_s: float = _env("STT_REDIS_TIMEOUT_S", 0.5, gt=0, le=30)
    rate_limit_enabled: bool = _env("STT_RATE_LIMIT_ENABLED", True)
    rate_limit_global: str = _env("STT_RATE_LIMIT_GLOBAL", "600/minute")
    rate_limit_per_user: str = _env("STT_RATE_LIMIT_PER_USER", "120/minute")
    rate_limit_providers: str = _env("STT_RATE_LIMIT_PROVIDERS", "")
    rate_limit_key_prefix: str = _env(
        "STT_RATE_LIMIT_KEY_PREFIX", "stt-gateway", min_length=1, max_length=64
    )
    max_streams_per_user: int = _env("STT_MAX_STREAMS_PER_USER", 4, ge=1, le=10_000)
    max_active_jobs_per_user: int = _env("STT_MAX_ACTIVE_JOBS_PER_USER", 50, ge=1, le=1_000_000)

    # tracing
    tracing_exporter: Literal["none", "console", "otlp"] = _env("STT_TRACING_EXPORTER", "none")
    otlp_endpoint: str | None = _env("STT_OTLP_ENDPOINT", None)
    tracing_sample_ratio: float = _env("STT_TRACING_SAMPLE_RATIO", 1.0, ge=0, le=1)
    service_name: str = _env("STT_SERVICE_NAME", "stt-gateway", min_length=1)

    # retention, debugging and storage encryption
    delete_audio_after_transcription: bool = _env("STT_DELETE_AUDIO_AFTER_TRANSCRIPTION", False)
    debug_dump_audio: bool = _env("STT_DEBUG_DUMP_AUDIO", False)
    storage_encryption_key: SecretStr | None = _env("STT_STORAGE_ENCRYPTION_KEY", None)

    # more providers, fallback chains, diarization, language, vocabulary (Docs/Providers.md)
    transformers_models: dict[str, str] = _env("STT_TRANSFORMERS_MODELS", {})
    nemo_models: dict[str, str] = _env("STT_NEMO_MODELS", {})
    external_base_url: str | None = _env("STT_EXTERNAL_BASE_URL", None)
    external_api_key: SecretStr | None = _env("STT_EXTERNAL_API_KEY", None)
    external_models: dict[str, str] = _env("STT_EXTERNAL_MODELS", {"whisper-1": "whisper-1"})
    external_timeout_s: float = _env("STT_EXTERNAL_TIMEOUT_S", 120.0, gt=0, le=3600)
    external_connect_timeout_s: float = _env("STT_EXTERNAL_CONNECT_TIMEOUT_S", 5.0, gt=0, le=120)
    external_max_retries: int = _env("STT_EXTERNAL_MAX_RETRIES", 2, ge=0, le=10)
    external_backoff_s: float = _env("STT_EXTERNAL_BACKOFF_S", 0.5, ge=0, le=60)
    external_max_backoff_s: float = _env("STT_EXTERNAL_MAX_BACKOFF_S", 30.0, ge=0, le=600)
    fallbacks: dict[str, list[str]] = _env("STT_FALLBACKS", {})
    breaker_failure_threshold: int = _env("STT_BREAKER_FAILURE_THRESHOLD", 3, ge=1, le=100)
    breaker_reset_s: float = _env("STT_BREAKER_RESET_S", 30.0, gt=0, le=3600)
    enable_diarization: bool = _env("STT_ENABLE_DIARIZATION", False)
    diarization_backend: Literal["builtin", "pyannote"] = _env("STT_DIARIZATION_BACKEND", "builtin")
    diarization_pyannote_path: Path | None = _env("STT_DIARIZATION_PYANNOTE_PATH", None)
    diarization_device: Literal["cpu", "cuda"] = _env("STT_DIARIZATION_DEVICE", "cpu")
    diarization_threshold: float = _env("STT_DIARIZATION_THRESHOLD", 0.35, gt=0, lt=2)
    diarization_max_speakers: int = _env("STT_DIARIZATION_MAX_SPEAKERS", 8, ge=1, le=16)
    # multichannel=true: channels transcribed at most (Docs/Transcript_Intelligence.md)
    max_audio_channels: int = _env("STT_MAX_AUDIO_CHANNELS", 8, ge=2, le=64)
    language_detection_model: str = _env("STT_LANGUAGE_DETECTION_MODEL", "faster-whisper:base")
    vocabulary: dict[str, str] = _env("STT_VOCABULARY", {})
    vocabulary_file: Path | None = _env("STT_VOCABULARY_FILE", None)
    # a JSON object of language code -> prompt, used when a request with that language has none
    default_prompts: dict[str, str] = _env("STT_DEFAULT_PROMPTS", {})

    @field_validator(
        "transformers_models",
        "nemo_models",
        "external_models",
        "fallbacks",
        "vocabulary",
        "default_prompts",
        mode="before",
    )
    @classmethod
    def _json_mapping(cls, value: Any) -> Any:
        """config.txt values arrive as text; the environment's are parsed as JSON already."""
        if isinstance(value, str):
            import json

            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON object: {exc.msg}") from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.default_beam_size > self.max_beam_size:
            raise ValueError("STT_DEFAULT_BEAM_SIZE must not exceed STT_MAX_BEAM_SIZE")
        return self

    @model_validator(mode="after")
    def _prompts_coherent(self) -> Settings:
        for language, prompt in self.default_prompts.items():
            if normalise_language(language) != language:
                raise ValueError(f"STT_DEFAULT_PROMPTS: '{language}' is not a language code")
            if len(prompt) > self.max_prompt_chars:
                raise ValueError(
                    f"STT_DEFAULT_PROMPTS['{language}'] is longer than STT_MAX_PROMPT_CHARS"
                )
        return self

    @model_validator(mode="after")
    def _streaming_coherent(self) -> Settings:
        if self.stream_min_step_ms > self.stream_max_step_ms:
            raise ValueError("STT_STREAM_MIN_STEP_MS must not exceed STT_STREAM_MAX_STEP_MS")
        if self.stream_beam_size > self.max_beam_size:
            raise ValueError("STT_STREAM_BEAM_SIZE must not exceed STT_MAX_BEAM_SIZE")
        return self

    @model_validator(mode="after")
    def _webhooks_coherent(self) -> Settings:
        if self.webhook_default_url and not self.webhook_secret:
            raise ValueError("STT_WEBHOOK_DEFAULT_URL needs STT_WEBHOOK_SECRET (events are signed)")
        if self.webhook_backoff_base_s > self.webhook_backoff_max_s:
            raise ValueError("STT_WEBHOOK_BACKOFF_BASE_S must not exceed STT_WEBHOOK_BACKOFF_MAX_S")
        return self

    @field_validator("rate_limit_global", "rate_limit_per_user")
    @classmethod
    def _rate_syntax(cls, value: str) -> str:
        parse_rate(value)
        return value.strip()

    @field_validator("rate_limit_providers")
    @classmethod
    def _provider_rates_syntax(cls, value: str) -> str:
        parse_provider_limits(value)
        return value.strip()

    @field_validator("storage_encryption_key")
    @classmethod
    def _encryption_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            decode_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _security_coherent(self) -> Settings:
        check_auth(
            auth_mode=self.auth_mode,
            host=self.host,
            allow_remote_no_auth=self.allow_remote_no_auth,
            api_key=self.api_key.get_secret_value() if self.api_key else "",
            jwt_algorithm=self.jwt_algorithm,
            jwt_secret=self.jwt_secret.get_secret_value() if self.jwt_secret else "",
            jwt_public_key=self.jwt_public_key,
        )
        return self

    @property
    def max_file_size_bytes(self) -> int:
        return int(self.max_file_size_mb * 1024 * 1024)

    @property
    def job_max_file_size_bytes(self) -> int:
        return int(self.job_max_file_size_mb * 1024 * 1024)

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def debug_audio_dir(self) -> Path:
        return self.data_dir / "debug-audio"

    def secret_values(self) -> list[str]:
        """Every configured secret (each ``SecretStr`` setting), for log redaction."""
        fields = (getattr(self, name) for name in type(self).model_fields)
        values = [f.get_secret_value() for f in fields if isinstance(f, SecretStr)]
        if self.redis_url is not None:
            values.append(urlsplit(self.redis_url.get_secret_value()).password or "")
        return [v for v in values if v]

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'stt.db').resolve()}"

    @property
    def audio_store_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """``STT_CORS_ORIGINS``: comma-separated origins (``https://intranet.example``) whose
        pages may call the API from a browser; empty (the default) turns CORS off, ``*``
        allows any origin (credentials still travel only in headers the page sets)."""
        return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @property
    def url_allowlist_entries(self) -> tuple[str, ...]:
        """``STT_URL_ALLOWLIST``: comma-separated IPs, CIDR networks or host names that URL
        ingestion may fetch even though they resolve to private/loopback addresses."""
        return tuple(e.strip() for e in self.url_allowlist.split(",") if e.strip())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, ConfigTxtSource(settings_cls))


class ConfigTxtSource(PydanticBaseSettingsSource):
    """Reads ``[STT-Settings]`` from ``config.txt`` (path from ``STT_CONFIG_FILE``)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = Path(os.environ.get("STT_CONFIG_FILE", DEFAULT_CONFIG_FILE))
        self._aliases = {
            str(f.validation_alias).lower(): str(f.validation_alias)
            for f in settings_cls.model_fields.values()
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(self.path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{self.path}: cannot parse: {exc}") from exc
        if not parser.has_section(CONFIG_SECTION):
            return {}
        values: dict[str, Any] = {}
        for key, value in parser.items(CONFIG_SECTION):
            alias = self._aliases.get(key.lower())
            if alias is None:
                raise ConfigError(f"{self.path}: unknown key '{key}' in [{CONFIG_SECTION}]")
            if value.strip() != "":
                values[alias] = value.strip()
        return values


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "settings"
    secret = not error["loc"] or any(m in key.upper() for m in _SECRET_MARKERS)
    shown = "" if secret else f" (got {error.get('input')!r})"  # whole-model input holds secrets
    return f"{key}: {error['msg']}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation failures into one :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        details = "; ".join(_describe(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"invalid configuration: {details}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
