"""The synchronous transcription path: upload intake, decoding, the inference pool, the
pipeline around the providers (language, fallback chain, diarization, vocabulary) and the
response formats. It never imports ``app.services.jobs``."""
