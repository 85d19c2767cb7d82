"""Languages beyond English with the multilingual Whisper base (offline package): German and
Persian (espeak-ng) and Russian (Festival's Russian voice) through the transcription pipeline,
scored with eval_providers' language-aware word normalisation; the vocabulary's regex rules on
Cyrillic and Persian transcripts; the enhancement stage on quiet audio.

The sentences and the bounds come from ``Helper_Scripts/eval_providers.py`` (its corpus, its
measurement; Docs/Transcript_Intelligence.md#languages). espeak-ng's Russian and Persian are
hard for Whisper base (corpus WER about 1.1 and 1.2, with repetition loops on some sentences):
Russian is spoken here by Festival's ``msu_ru_nsh_clunits`` (recorded speech units; corpus WER
0.10), so its bound says something about the pipeline; Persian has no other voice here, so it
uses the sentences base does not loop on. Each language is bounded at the WER measured on its
sentences plus a margin (see ``CASES``); the tests also check the script of the output, which a
wrong language or an English-only model would not match.
"""

from __future__ import annotations

import subprocess
import unicodedata
from pathlib import Path

import pytest

from app.bootstrap import build_pipeline
from app.core.config import load_settings
from app.services.transcription.audio import decode_file
from app.services.transcription.pipeline import TranscriptionPipeline
from schemas.options import TranscriptionOptions
from schemas.transcript import Transcript
from tests.support.audio import festival_speech, speech
from tests.support.scripts import load_script

pytestmark = pytest.mark.model

EVAL = load_script("eval_providers")
ESPEAK_SPEED = 175  # espeak-ng's default, as eval_providers --make-sample speaks
VOCABULARY = {
    # Cyrillic, case-insensitive, whole word (Whisper writes "Сегодня", never in capitals)
    r"re:(?i)\bсегодня\b": "СЕГОДНЯ",
    # Persian: base hears espeak's "می‌بارد" (it rains) as "بی بارد"; the rule puts it right
    r"re:\bبی\s+بارد\b": "می\u200cبارد",
}
#: language -> (sentences of the eval corpus, WER bound), measured on these sentences (clean,
#: base int8 on CPU, beam 5):
#: de 0.16 (7 of 44 words, twice; deterministic): bound 0.30, six more wrong words;
#: ru (Festival) 0.10 (4 of 39 words: "хлеб по молоко", "части", "в закройте", "идёт" for
#: "и идёт"): bound 0.25, six more wrong words (espeak's Russian measured 0.71-0.79 on its
#: first sentence alone, sampled at temperature 1.0 after every step failed Whisper's
#: thresholds: no bound there would tell a working pipeline from a broken one);
#: fa 0.88 (22 of 25 words, deterministic; 0.96 without the vocabulary rule): bound 1.05, under
#: the 1.3-1.75 of the repetition loops ("با با با ...") base falls into on other sentences.
CASES = {
    "de": ((0, 1, 3), 0.30),
    "ru": ((0, 1, 3), 0.25),
    "fa": ((0, 3), 1.05),
}
SCRIPTS = {"de": "LATIN", "ru": "CYRILLIC", "fa": "ARABIC"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> TranscriptionPipeline:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("data"),
        vocabulary=VOCABULARY,
        enhance="auto",
    )
    return build_pipeline(settings)


def _transcribe(pipeline: TranscriptionPipeline, path: Path, language: str) -> Transcript:
    audio = decode_file(path, max_duration_s=60)
    chain = pipeline.registry.chain("base")
    return pipeline.run(audio, chain, TranscriptionOptions(language=language, beam_size=5))


def _sentence(language: str, index: int) -> tuple[str, Path]:
    voice, sentences = EVAL.SENTENCES[language]
    text = sentences[index]
    if language in EVAL.FESTIVAL:
        return text, festival_speech(text)
    return text, speech(text, voice=voice, speed=ESPEAK_SPEED)


def _score(language: str, pairs: list[tuple[str, str]]) -> float:
    edits = words = 0
    for reference, hypothesis in pairs:
        ref = EVAL.words(reference, language)
        edits += EVAL.edit_distance(ref, EVAL.words(hypothesis, language))
        words += len(ref)
    return edits / words


def _script_share(text: str, script: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(script in unicodedata.name(c, "") for c in letters) / max(1, len(letters))


@pytest.mark.parametrize("language", list(CASES))
def test_language_word_error_rate_and_vocabulary(
    pipeline: TranscriptionPipeline, language: str
) -> None:
    indices, bound = CASES[language]
    pairs = []
    for index in indices:
        text, path = _sentence(language, index)
        transcript = _transcribe(pipeline, path, language)
        assert transcript.language == language
        assert transcript.metadata.enhancement is None  # a clean recording is left as it is
        pairs.append((text, transcript.text))
    joined = " ".join(hypothesis for _, hypothesis in pairs)
    assert _script_share(joined, SCRIPTS[language]) > 0.9
    assert _score(language, pairs) <= bound, pairs
    if language == "ru":  # "Сегодня утром ..." opens sentence 0
        assert pairs[0][1].startswith("СЕГОДНЯ "), pairs[0][1]
    if language == "fa":  # "... باران شدیدی می‌بارد." ends sentence 3
        assert "شدیدی می\u200cبارد" in pairs[1][1] and "بی بارد" not in pairs[1][1], pairs[1][1]


def test_enhancement_does_not_hurt_quiet_speech(
    pipeline: TranscriptionPipeline, tmp_path: Path
) -> None:
    """German at -25 dB (speech near -45 dBFS): measured on the corpus, WER 0.41 without the
    enhancement and 0.21 with it; on these three sentences 0.20 without and 0.16 with it
    (deterministic). With it must be no worse, and within the clean bound."""
    plain = TranscriptionPipeline(pipeline.registry, pipeline.vocabulary)
    with_stage, without = [], []
    for index in CASES["de"][0]:
        text, clean = _sentence("de", index)
        quiet = tmp_path / f"quiet{index}.wav"
        subprocess.run(["sox", str(clean), str(quiet), "gain", "-25"], check=True)
        enhanced = _transcribe(pipeline, quiet, "de")
        assert enhanced.metadata.enhancement is not None
        assert enhanced.metadata.enhancement.gain_db > 20
        assert [w.code for w in enhanced.metadata.warnings or []] == ["low_level"]
        with_stage.append((text, enhanced.text))
        without.append((text, _transcribe(plain, quiet, "de").text))
    assert _score("de", with_stage) <= _score("de", without), (with_stage, without)
    assert _score("de", with_stage) <= CASES["de"][1], with_stage
