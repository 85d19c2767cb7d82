"""Worker SDK and GPU/CPU worker runner for the durable job queue."""
