"""Log records stay one line each whatever text they carry (log forging)."""

from __future__ import annotations

import argparse
import importlib
import logging

import pytest

from skygate.logs import FORMAT, OneLineFormatter, uvicorn_log_config


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("tap.routes", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_a_message_with_line_breaks_is_one_line() -> None:
    text = OneLineFormatter(FORMAT).format(_record("TAP usage error: %s", "x\n2026-01-01 forged ERROR\r\nroot"))
    assert "\n" not in text and "\r" not in text
    assert "x\\n2026-01-01 forged ERROR\\r\\nroot" in text


def test_a_traceback_is_indented_below_its_record() -> None:
    try:
        raise ValueError("user text\nMainProcess tap.routes CRITICAL forged")
    except ValueError as exc:
        caught = exc
    lines = OneLineFormatter(FORMAT).format(_record("TAP query failed", exc=caught)).split("\n")
    assert "TAP query failed" in lines[0]
    assert len(lines) > 2 and all(line.startswith("    ") for line in lines[1:])


def test_serve_configures_the_services_loggers(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    import skygate.serve

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path))
    skygate.serve.run_serve(argparse.Namespace(host="127.0.0.1", port=0, workers=2))
    config = seen["log_config"]
    assert config == uvicorn_log_config()
    assert config["root"]["handlers"] == ["skygate"]  # type: ignore[index]
    handler = config["handlers"]["skygate"]  # type: ignore[index]
    assert handler["stream"] == "ext://sys.stderr"
    module, _, name = config["formatters"][handler["formatter"]]["()"].rpartition(".")  # type: ignore[index]
    assert getattr(importlib.import_module(module), name) is OneLineFormatter
