"""One transcription, synchronously, in a worker thread: the steps around the provider call.

1. the enhancement stage (``STT_ENHANCE``, or the request's ``enhance``;
   :mod:`~app.services.transcription.enhance`): the steps below hear a band-passed copy at the
   target level;
2. language: when the request gives none and the first provider cannot find it while
   transcribing (``Capabilities.auto_language`` false, e.g. NeMo), detect it first with the
   multilingual detection model (``STT_LANGUAGE_DETECTION_MODEL``);
3. the fallback chain (:func:`providers.fallback.run_chain`) with circuit breakers, setting
   ``metadata.fallback_from`` when another target served the request; for
   ``multichannel=true`` steps 1 to 3 run once per channel (``multichannel.py``);
4. :meth:`TranscriptionPipeline.finalize`: speaker diarization when asked, the speaker roles
   (``roles.py``), then the custom vocabulary (deployment dictionary merged with the
   request's), then an emotion class per segment when asked (``emotion=true``,
   ``STT_EMOTION_MODEL``), then the audio warnings (``STT_AUDIO_WARNINGS``) on the whole
   recording as it was uploaded;
5. :meth:`TranscriptionPipeline.assess`: the quality report (``STT_QUALITY_REPORT``), by the
   caller that measured the processing time.

A request without a prompt whose language is known before decoding (given, or pre-detected in
step 2) gets that language's ``STT_DEFAULT_PROMPTS`` entry as its prompt.

REST requests run :meth:`TranscriptionPipeline.run` in the inference pool; job workers call
``transcribe`` per chunk and ``finalize`` once on the merged transcript.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from loguru import logger

from app.services.transcription.audio_warnings import WarningThresholds, audio_warnings
from app.services.transcription.enhance import EnhanceMode, EnhanceSettings, enhance
from app.services.transcription.multichannel import ChannelReader, transcribe_channels
from app.services.transcription.quality import QualityThresholds, quality_report
from app.services.transcription.roles import apply_roles
from app.services.vocabulary import Vocabulary, default_prompt
from providers.base import AudioInput
from providers.diarization import SpeakerDiarizer
from providers.emotion import EmotionClassifier
from providers.fallback import FallbackHook, run_chain
from providers.registry import ProviderRegistry, Resolved
from schemas.errors import CapabilityNotSupported
from schemas.options import DiarizationOptions, Task, TranscriptionOptions
from schemas.providers import LanguageDetection
from schemas.transcript import Diarization, Transcript


def diarize_transcript(
    transcript: Transcript,
    audio: AudioInput,
    options: DiarizationOptions,
    *,
    diarizer: SpeakerDiarizer | None,
) -> Transcript:
    """Label every segment (and word) of ``transcript`` with a speaker; fills ``diarization``.

    Raises :class:`CapabilityNotSupported` when no diarizer is configured or its extra is
    missing. Blocking (speaker embeddings): call it from a worker thread.
    """
    if diarizer is None:
        raise CapabilityNotSupported(
            "diarization is not enabled on this deployment (STT_ENABLE_DIARIZATION)",
            param="diarize",
        )
    if not transcript.segments:
        return transcript.model_copy(update={"diarization": Diarization(enabled=True, speakers=0)})
    return diarizer.diarize(transcript, audio, options)


@dataclass
class TranscriptionPipeline:
    registry: ProviderRegistry
    vocabulary: Vocabulary
    diarizer: SpeakerDiarizer | None = None
    language_model: str | None = None
    on_fallback: FallbackHook | None = None
    default_prompts: Mapping[str, str] = field(default_factory=dict)
    quality: QualityThresholds | None = None  # None: no quality report
    warnings: WarningThresholds | None = None  # None: no audio warnings
    enhancement: EnhanceSettings = field(default_factory=EnhanceSettings)  # default: off
    emotion: EmotionClassifier | None = None  # None: emotion=true is refused

    def run(
        self,
        audio: AudioInput,
        chain: Sequence[Resolved],
        options: TranscriptionOptions,
        channels: ChannelReader | None = None,
    ) -> Transcript:
        """Transcribe ``audio`` (or each of its ``channels``, for ``multichannel=true``) with
        the first target of ``chain`` that works, then finalize on ``audio``."""
        self.check(options)
        if channels is None:
            transcript = self.transcribe(audio, chain, options)
        else:
            transcript = self.transcribe_channels(channels, chain, options, audio.duration)
        return self.finalize(transcript, audio, options)

    def transcribe_channels(
        self,
        channels: ChannelReader,
        chain: Sequence[Resolved],
        options: TranscriptionOptions,
        duration: float,
    ) -> Transcript:
        """:meth:`transcribe` each channel in turn, labelled and merged by time."""
        return transcribe_channels(
            channels, lambda audio: self.transcribe(audio, chain, options), duration
        )

    def check(self, options: TranscriptionOptions) -> None:
        """Fail before any transcription when ``options`` ask for what this deployment lacks."""
        if options.diarization is not None and not (self.diarizer and self.diarizer.available):
            self._require_diarizer()
        if options.emotion:
            self._require_emotion()

    def transcribe(
        self, audio: AudioInput, chain: Sequence[Resolved], options: TranscriptionOptions
    ) -> Transcript:
        """Enhancement, language pre-detection and the fallback chain, without finalizing (job
        chunks are finalized once, after they are merged)."""
        stage = self.enhancement
        if options.enhance is not None:  # the request's enhance=true|false over STT_ENHANCE
            stage = replace(stage, mode=EnhanceMode.ON if options.enhance else EnhanceMode.OFF)
        audio, applied = enhance(audio, stage)
        options = self.with_default_prompt(self.with_language(audio, chain[0], options))
        if (
            options.diarization is not None or options.multichannel
        ) and not options.word_timestamps:
            # speakers are put on words, so a turn change inside a segment splits it there; the
            # channels of a call are interleaved by segment start, which Whisper's own timestamp
            # tokens put at 0.0 across a leading silence (a party that speaks second), while
            # the words' alignment finds where the speech starts
            options = options.model_copy(update={"word_timestamps": True})
        transcript, result = run_chain(
            chain,
            lambda target: target.provider.transcribe_batch(audio, options, target.model),
            self.registry.breakers,
            on_fallback=self.on_fallback,
        )
        if result.attempts:
            transcript = transcript.with_metadata(
                fallback_from=result.fallback_from,
                fallback_attempts=[f"{a.target}: {a.reason}" for a in result.attempts],
            )
        if applied is not None:
            transcript = transcript.with_metadata(enhancement=applied)
        return transcript

    def finalize(
        self,
        transcript: Transcript,
        audio: AudioInput,
        options: TranscriptionOptions,
        on_step: Callable[[str], None] | None = None,
    ) -> Transcript:
        """Diarization (when ``options.diarization`` is set), the speaker roles, the custom
        vocabulary (when one applies), emotions (when ``options.emotion``), then the audio
        warnings; ``on_step("diarization")`` / ``("vocabulary")`` / ``("emotion")`` as each
        begins."""
        if options.diarization is not None:
            if on_step is not None:
                on_step("diarization")
            transcript = diarize_transcript(
                transcript, audio, options.diarization, diarizer=self.diarizer
            )
        if options.speaker_roles:
            transcript = apply_roles(transcript, options.speaker_roles)
        vocabulary = self.vocabulary.merged(options.vocabulary)
        if vocabulary and on_step is not None:
            on_step("vocabulary")
        transcript = vocabulary.apply(transcript)
        if options.emotion:
            classifier = self._require_emotion()
            if on_step is not None:
                on_step("emotion")
            transcript = classifier.label(transcript, audio)
        if self.warnings is not None:
            transcript = transcript.with_metadata(warnings=audio_warnings(audio, self.warnings))
        return transcript

    def assess(self, transcript: Transcript, processing_s: float) -> Transcript:
        """``transcript`` with its quality report; ``processing_s``: the time it took."""
        if self.quality is None:
            return transcript
        return transcript.with_metadata(
            quality=quality_report(transcript, processing_s, self.quality)
        )

    def with_default_prompt(self, options: TranscriptionOptions) -> TranscriptionOptions:
        """``options`` with ``STT_DEFAULT_PROMPTS``' prompt for its language when it has none."""
        if options.prompt or options.task is Task.TRANSLATE:
            return options
        prompt = default_prompt(self.default_prompts, options.language)
        return options.model_copy(update={"prompt": prompt}) if prompt else options

    def _require_diarizer(self) -> None:
        if self.diarizer is None:
            raise CapabilityNotSupported(
                "diarization is not enabled on this deployment (STT_ENABLE_DIARIZATION)",
                param="diarize",
            )
        raise CapabilityNotSupported(
            f"diarization is unavailable on this deployment: {self.diarizer.missing}",
            param="diarize",
        )

    def _require_emotion(self) -> EmotionClassifier:
        if self.emotion is None or self.emotion.missing:
            why = self.emotion.missing if self.emotion else "no emotion model (STT_EMOTION_MODEL)"
            raise CapabilityNotSupported(
                f"emotion recognition is unavailable on this deployment: {why}", param="emotion"
            )
        return self.emotion

    # -- language -------------------------------------------------------------------------
    def with_language(
        self, audio: AudioInput, target: Resolved, options: TranscriptionOptions
    ) -> TranscriptionOptions:
        if options.language or options.task is Task.TRANSLATE or not self.language_model:
            return options
        if target.provider.capabilities().auto_language:
            return options
        detected = self.detect(audio, self.language_model)
        logger.info(
            "detected language {} ({:.2f}) for {}",
            detected.language,
            detected.probability,
            target.label,
        )
        return options.model_copy(update={"language": detected.language})

    def detect(self, audio: AudioInput, model_id: str | None = None) -> LanguageDetection:
        """The spoken language of ``audio`` (its first 30 s) with the given or default model."""
        model = model_id or self.language_model
        if not model:
            raise CapabilityNotSupported(
                "language detection is not configured (STT_LANGUAGE_DETECTION_MODEL)",
                param="model",
            )
        target = self.registry.resolve(model)
        return target.provider.detect_language(audio, target.model)
