"""The registry's view of the services: the anomaly parameters documented are those the service applies."""

from __future__ import annotations

from anomaly.params import ScoreParams
from skygate.registry_sources import ANOMALY_PARAMETERS


def test_every_anomaly_parameter_is_documented() -> None:
    applied = set(ScoreParams(query="SELECT 1").echo())
    assert {p.name for p in ANOMALY_PARAMETERS} == applied
