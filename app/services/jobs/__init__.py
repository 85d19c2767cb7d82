"""Background jobs: the job service behind the API, the transcription job handler, chunk
planning and merging, the Media DB writer, retention, the audio store and URL ingestion."""
