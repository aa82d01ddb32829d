"""The progress bars of ``skygate demo`` / ``skygate ingest``: one per phase, with counts, rate and ETA."""

from __future__ import annotations

import io

from skygate.progress import Bars


def test_a_bar_per_phase_with_counts_and_eta() -> None:
    stream = io.StringIO()
    bars = Bars(stream)
    for done in range(3):
        bars("tiles", done, 2)
    bars("catalogue rows", 0, 20_455)
    bars("catalogue rows", 12_000, 20_455)
    bars("ingest mine.cat", 5_000, None)
    bars.close()
    text = stream.getvalue()
    assert "tiles: 100%" in text and "2/2 [" in text and "tile/s]" in text
    assert "catalogue rows:  59%" in text and "12.0k/20.5k [" in text and "<" in text  # elapsed<ETA
    assert "ingest mine.cat: 5.00krow" in text


def test_a_finished_phase_is_closed_and_later_calls_do_nothing() -> None:
    stream = io.StringIO()
    bars = Bars(stream)
    bars("tiles", 2, 2)
    assert bars.bars["tiles"].disable, "closed when done reaches total"
    bars("tiles", 2, 2)
    bars.close()
    assert stream.getvalue().count("tiles: 100%") == 1
