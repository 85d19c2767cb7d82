"""The FastAPI application of the speech-to-text gateway."""

__version__ = "0.1.0"
