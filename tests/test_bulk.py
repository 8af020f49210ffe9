"""paused_gc: collection is off inside, back to what it was after, even on errors."""

from __future__ import annotations

import gc

import pytest

from dpa_engine.bulk import paused_gc


class DescribePausedGc:
    def it_pauses_and_restores_even_when_nested_or_failing(self) -> None:
        assert gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
            with paused_gc():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner block does not switch it back on early
        assert gc.isenabled()
        with pytest.raises(RuntimeError), paused_gc():
            raise RuntimeError("boom")
        assert gc.isenabled()

    def it_leaves_collection_off_when_it_was_off(self) -> None:
        gc.disable()
        try:
            with paused_gc():
                pass
            assert not gc.isenabled()
        finally:
            gc.enable()
