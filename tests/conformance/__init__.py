"""Conformance data kept in the repository (tests/conformance/README.md says where each set comes from)."""

from __future__ import annotations

from pathlib import Path

XSD_DIR = Path(__file__).with_name("xsd")
