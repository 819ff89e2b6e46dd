"""One registry idiom: every extension point's types by unique name (names are stored and exported)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from reclaim.forensics.passes import FORENSIC_SIGNALS, FORENSIC_SIGNALS_BY_NAME
from reclaim.registry import by_name
from reclaim.signals import SIGNAL_TYPES, SIGNALS_BY_NAME
from reclaim.signals.face import FACE_MODELS
from reclaim.sources import SOURCE_TYPES
from reclaim.takedown.platforms import PLATFORMS, PLATFORMS_BY_NAME


class A:
    name: ClassVar[str] = "a"


class B:
    name: ClassVar[str] = "a"


def test_a_shared_name_is_refused_and_named() -> None:
    with pytest.raises(ValueError, match="widget name 'a' is already registered"):
        by_name((A, B), what="widget")
    assert by_name((A,), what="widget") == {"a": A}


def test_every_registry_keeps_its_order_and_finds_every_type() -> None:
    assert list(SIGNALS_BY_NAME.values()) == list(SIGNAL_TYPES)
    assert list(FORENSIC_SIGNALS_BY_NAME.values()) == list(FORENSIC_SIGNALS)
    assert list(PLATFORMS_BY_NAME.values()) == list(PLATFORMS)
    assert len(by_name(SOURCE_TYPES, what="source")) == len(SOURCE_TYPES)
    assert not set(SIGNALS_BY_NAME) & set(FORENSIC_SIGNALS_BY_NAME)
    assert all(name == model.name for name, model in FACE_MODELS.items())
