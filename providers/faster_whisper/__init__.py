"""faster-whisper (CTranslate2) provider: the gateway's default engine."""

from providers.faster_whisper.provider import FasterWhisperProvider

__all__ = ["FasterWhisperProvider"]
