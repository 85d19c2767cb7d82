"""``stt-gateway`` command line: serve, transcribe, models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from loguru import logger

from app.core.config import ConfigError, Settings, load_settings

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Self-hosted speech-to-text gateway (OpenAI-compatible).",
)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
) -> None:
    """Run the HTTP/WebSocket server on the configured backend."""
    import uvicorn

    from app.core.http_server import bind_listener, server_options
    from app.main import create_app

    settings = _settings(host=host, port=port)
    # Bind before anything starts: a second instance on a busy port must not touch the queue.
    try:
        listener = bind_listener(settings.host, settings.port)
    except OSError as exc:
        typer.echo(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", err=True)
        raise typer.Exit(1) from None
    _check_database(settings)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=30,
        **server_options(settings),
    )
    logger.info("serving on http://{}:{}", settings.host, settings.port)
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    if not server.started:  # as uvicorn.run: start-up was interrupted
        raise typer.Exit(3)


def _check_database(settings: Settings) -> None:
    """Connect and migrate up front, so a bad ``STT_DATABASE_URL`` is one line, not a traceback
    from the server's start-up."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from app import jobs_cli

    try:
        jobs_cli.db_upgrade(settings)
    except (ValueError, SQLAlchemyError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        first_line = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
        typer.echo(f"error: cannot open the database (STT_DATABASE_URL): {first_line}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def transcribe(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="audio file")],
    model: Annotated[
        str, typer.Option(help="model id, e.g. whisper-1, tiny.en, mock")
    ] = "whisper-1",
    language: Annotated[str | None, typer.Option(help="ISO-639-1 code")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json|text|srt|vtt|verbose_json")] = "text",
    translate: Annotated[bool, typer.Option(help="translate into English")] = False,
    job: Annotated[
        bool, typer.Option("--job", help="run as a background job, with a progress bar")
    ] = False,
    server: Annotated[
        str | None, typer.Option(help="with --job: submit to this running gateway (URL)")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="with --server: API key or JWT")] = None,
    worker: Annotated[
        bool, typer.Option(help="with --job and no --server: also work on it in this process")
    ] = True,
    diarize: Annotated[bool, typer.Option(help="label speakers")] = False,
    multichannel: Annotated[
        bool, typer.Option(help="transcribe each channel on its own; the channel is the speaker")
    ] = False,
    speaker_roles: Annotated[
        str | None, typer.Option(help="role names for the speakers, e.g. agent,customer")
    ] = None,
    emotion: Annotated[
        bool, typer.Option(help="an emotion label per segment (STT_EMOTION_MODEL)")
    ] = False,
) -> None:
    """Transcribe FILE in-process (or as a job with --job) and print it in the chosen format."""
    fields = {"model": [model], "language": [language or ""], "response_format": [fmt]}
    flags = {"diarize": diarize, "multichannel": multichannel, "emotion": emotion}
    fields.update({name: ["true"] for name, on in flags.items() if on})
    if speaker_roles:
        fields["speaker_roles"] = [speaker_roles]
    if job:
        from app import jobs_cli
        from schemas.options import ResponseFormat

        if server:
            code = jobs_cli.transcribe_remote(server, file, fields, ResponseFormat(fmt), api_key)
        else:
            code = jobs_cli.transcribe_local(_settings(), file, fields, worker=worker)
        raise typer.Exit(code)
    import asyncio

    from app.api.forms import build_options, parse_form
    from app.bootstrap import build_pipeline, build_transcription_service
    from app.services.transcription.formats import RenderOptions, render
    from schemas.errors import GatewayError
    from schemas.options import Task

    settings = _settings()
    task = Task.TRANSLATE if translate else Task.TRANSCRIBE
    pipeline = build_pipeline(settings)
    service = build_transcription_service(settings, pipeline)
    try:
        form = parse_form(fields)
        options = build_options(form, task, settings)
        chain = pipeline.registry.chain(form.model, task)
        transcript = asyncio.run(service.transcribe_file(file, chain, options))
    except GatewayError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        service.pool.shutdown()
    body = render(transcript, form.response_format, RenderOptions.of(settings))
    sys.stdout.write(body if isinstance(body, str) else json.dumps(body, indent=2) + "\n")


@cli.command()
def models() -> None:
    """List the models this installation can serve."""
    from app.bootstrap import build_providers

    settings = _settings()
    for name, provider in build_providers(settings).items():
        for model in provider.available_models():
            default = (
                " (default)"
                if (name, model) == (settings.default_provider, settings.default_model)
                else ""
            )
            typer.echo(f"{name}:{model}{default}")


@cli.command()
def worker(
    pool: Annotated[str, typer.Option(help="which jobs to take: gpu, cpu or any")] = "any",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="jobs at once")] = 1,
) -> None:
    """Run a job worker (a fleet member) against STT_DATABASE_URL until SIGTERM/SIGINT."""
    from app import jobs_cli
    from app.core.logging import configure_logging
    from schemas.jobs import Pool

    settings = _settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        chosen = Pool(pool)
    except ValueError:
        typer.echo("error: --pool must be gpu, cpu or any", err=True)
        raise typer.Exit(2) from None
    jobs_cli.run_worker(settings, chosen, concurrency)


db_cli = typer.Typer(no_args_is_help=True, help="Database maintenance.")
cli.add_typer(db_cli, name="db")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also done automatically on start)."""
    from app import jobs_cli

    typer.echo(f"database at head: {jobs_cli.db_upgrade(_settings())}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
