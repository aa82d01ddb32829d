"""The per-checkout, per-worker names of tests/isolation.py are distinct and valid PostgreSQL names."""

from __future__ import annotations

import re

import pytest

from tests import isolation

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # unquoted, and within NAMEDATALEN


def test_names_differ_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    names = set()
    for worker in ("gw0", "gw1", "gw15"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        names.add(isolation.per_worker("skygate_test_anomaly"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    names.add(isolation.per_worker("skygate_test_anomaly"))
    assert len(names) == 4
    assert all(IDENTIFIER.fullmatch(name) for name in names), names
    assert isolation.per_worker("x").endswith("_main")


def test_names_differ_per_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    here = isolation.per_checkout("skygate_test_release")
    assert IDENTIFIER.fullmatch(here) and isolation.CHECKOUT in here
    monkeypatch.setattr(isolation, "CHECKOUT", "0" * 8)
    assert isolation.per_checkout("skygate_test_release") != here
