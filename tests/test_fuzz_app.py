"""The fuzz harness's checks (tests/fuzz_app.py) reject what they are there to catch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from skygate.settings import Settings
from tests.fuzz_app import PEAK_BYTES, Answer, FuzzApp


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[FuzzApp]:
    app = FuzzApp(Settings(data_dir=tmp_path))  # not started: only its checks are used
    app._rss_start = psutil.Process().memory_info().rss
    yield app
    app.close()


def _answer(status: int = 200, body: bytes = b"<VOTABLE/>", seconds: float = 0.1, peak: int = 1000) -> Answer:
    return Answer(status, {}, body, seconds, peak)


def test_a_plain_answer_passes(harness: FuzzApp) -> None:
    harness.check(_answer(), "plain")
    harness.check(_answer(400, b"UsageError: QUERY is required"), "usage error")


@pytest.mark.parametrize(("answer", "complaint"), [
    (_answer(500), "status 500"),
    (_answer(503), "status 503"),
    (_answer(body=b'Traceback (most recent call last):\n  File "x.py", line 1'), "traceback"),
    (_answer(400, b'  File "/srv/skygate/tap/routes.py", line 12, in sync'), "traceback"),
    (_answer(400, b"failed: ValueError('bad')"), "traceback"),
    (_answer(seconds=1e6), "s"),
    (_answer(peak=PEAK_BYTES + 1), "Python peak"),
])
def test_the_checks_reject(harness: FuzzApp, answer: Answer, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        harness.check(answer, "bad")
