"""Settings bounds: values inside are accepted, values outside fail naming the key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.config import ConfigError, load_settings

BOUNDED = {  # env name -> (low, high) inclusive, integers
    "STT_PORT": (1, 65535),
    "STT_MAX_BEAM_SIZE": (1, 20),
    "STT_BATCH_SIZE": (1, 64),
    "STT_MAX_CONCURRENT_TRANSCRIPTIONS": (1, 64),
    "STT_MAX_PROMPT_CHARS": (0, 10_000),
}


@given(st.sampled_from(sorted(BOUNDED)), st.data())
def test_bounds(name: str, data: st.DataObject) -> None:
    low, high = BOUNDED[name]
    inside = data.draw(st.integers(low, high))
    outside = data.draw(st.integers(high + 1, high + 10**6) | st.integers(low - 10**6, low - 1))
    extra = (
        {"STT_DEFAULT_BEAM_SIZE": 1, "STT_STREAM_BEAM_SIZE": 1}
        if name == "STT_MAX_BEAM_SIZE"
        else {}
    )
    settings = load_settings(_env_file=None, **{name: inside}, **extra)
    field = next(f for f, info in type(settings).model_fields.items()
                 if info.validation_alias == name)
    assert getattr(settings, field) == inside
    with pytest.raises(ConfigError, match=name):
        load_settings(_env_file=None, **{name: outside}, **extra)


@given(st.text(min_size=1, max_size=12).filter(lambda s: not s.strip().lstrip("-").isdigit()))
def test_non_numeric_values_name_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="STT_MAX_FILE_SIZE_MB"):
        load_settings(_env_file=None, STT_MAX_FILE_SIZE_MB=value + "x")
