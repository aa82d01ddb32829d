"""Anomaly scoring: speed of each implementation, fidelity figures, and the planted features' recall.

    .venv/bin/python benchmarks/anomaly.py [--rows 1000000] [--features 10] [--sections speed,job,fidelity,planted]

speed     fit and score time for 1 M x 10 synthetic rows (200 trees, 256 samples, fully extended):
          this project's scoring core on one thread and on two threads, isotree 0.6 with the matching
          settings (ndim = d, normal coefficients, max_depth 8, no pooled gain) on one and two threads,
          and the authors' ``eif`` 2.0.2 on a 100 k subset when it is installed (it needs Cython < 3:
          ``pip install "cython<3" wheel && pip install --no-build-isolation eif==2.0.2``).
job       the ``anomaly.score`` job end to end (DuckDB query, fit, chunked scoring by two in-process
          workers, Parquet result, top, plot, model): creation to COMPLETED.
fidelity  Spearman rank correlation with eif and isotree on the paper's blob, and the artefact
          statistics of anomaly/fidelity.py (standard vs extended forest).
planted   ROC AUC and top-1 % recall of the planted anomalies (features 7 and 8 of release.demo.catalog) over the
          ten tiles of the ``demo`` release, built with the release's own catalogue generator
          (release.demo.catalog.build_tile gives the demo release's rows bit for bit).

Targets (issue 7): scoring core <= 15 us per row per core; the job on 1 M x 10 in <= 60 s with two
workers. Rates are per row per core: wall time x threads / rows. Generated data goes to var/bench/.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.stats import spearmanr

from anomaly import fidelity, forest
from anomaly.model import standardization

ROOT = Path(__file__).resolve().parents[1]
NTREES, SAMPLE = 200, 256


def synthetic(rows: int, d: int, seed: int = 0) -> np.ndarray:
    """Three correlated Gaussian clumps with 0.1 % scattered outliers."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, d))
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    which = rng.integers(0, 3, rows)
    data = centres[which] + rng.normal(size=(rows, d)) @ mixing
    outliers = rng.random(rows) < 0.001
    data[outliers] = rng.uniform(-12.0, 12.0, size=(int(outliers.sum()), d))
    return data


def _timed(func: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def _line(name: str, fit_s: float | None, score_s: float, rows: int, threads: int, note: str = "") -> None:
    per_row = score_s * threads / rows * 1e6
    fit = f"{fit_s:7.2f}" if fit_s is not None else "      -"
    print(f"  {name:<42} fit {fit} s   score {score_s:7.2f} s   {per_row:6.1f} us/row/core  {note}")


def speed(rows: int, d: int) -> None:
    print(f"speed: {rows:,} rows x {d} features, {NTREES} trees, sample {SAMPLE}, fully extended")
    data = synthetic(rows, d)
    fitted, fit_s = _timed(lambda: forest.fit(data, ntrees=NTREES, sample_size=SAMPLE, seed=1))
    forest.score(fitted, data[:1000])  # compile the descent loop outside the timing
    scores, one = _timed(lambda: forest.score(fitted, data))
    _line("skygate core, 1 thread", fit_s, one, rows, 1)
    halves = np.array_split(data, 2)
    with ThreadPoolExecutor(2) as pool:
        parts, two = _timed(lambda: list(pool.map(lambda part: forest.score(fitted, part), halves)))
    assert np.array_equal(np.concatenate(parts), scores), "threads changed the scores"
    _line("skygate core, 2 threads", None, two, rows, 2, "(identical scores)")
    _isotree(data, d)
    _eif(data[:100_000], d)


def _isotree(data: np.ndarray, d: int) -> None:
    try:
        import isotree
    except ImportError:
        print("  isotree: not installed (pip install -e '.[bench]')")
        return
    for threads in (1, 2):
        model = isotree.IsolationForest(ndim=d, ntrees=NTREES, sample_size=SAMPLE, max_depth=8, coefs="normal",
                                        missing_action="fail", standardize_data=False, prob_pick_pooled_gain=0,
                                        penalize_range=False, nthreads=threads, random_seed=1)
        _, fit_s = _timed(lambda m=model: m.fit(data))
        _, score_s = _timed(lambda m=model: m.predict(data))
        _line(f"isotree {version('isotree')} ndim={d}, {threads} thread(s)", fit_s, score_s, data.shape[0], threads)


def _eif(data: np.ndarray, d: int) -> None:
    try:
        import eif
    except ImportError:
        print("  eif: not installed (see the module docstring)")
        return
    np.random.seed(1)
    model, fit_s = _timed(lambda: eif.iForest(data, ntrees=NTREES, sample_size=SAMPLE, ExtensionLevel=d - 1))
    _, score_s = _timed(lambda: model.compute_paths(X_in=data))
    _line(f"eif 2.0.2 ExtensionLevel={d - 1}, 1 thread", fit_s, score_s, data.shape[0], 1, f"({data.shape[0]:,} rows)")


def job(rows: int, d: int) -> None:
    print(f"job: anomaly.score end to end on {rows:,} x {d} rows in DuckDB, two in-process workers, Parquet result")
    asyncio.run(_job(rows, d))


async def _job(rows: int, d: int) -> None:
    from dataclasses import replace

    from anomaly.jobs import CHUNK_KIND, SCORE_KIND, AnomalyResources, check, run_chunk, run_score
    from release.backends import open_backend
    from release.engine import QueryEngine
    from release.ingest import ingest_arrow
    from release.metadata import load_metadata
    from release.stores import open_store
    from skygate.settings import Settings
    from skygate.worker import job_config
    from uws import JobKind, Parameter, Phase
    from uws.system import open_job_system

    work = Path(tempfile.mkdtemp(prefix="anomaly-bench-", dir=_bench_dir()))
    data = synthetic(rows, d).astype(np.float32)
    table = pa.table({"id": pa.array(np.arange(rows, dtype=np.int64)),
                      **{f"f{j}": pa.array(data[:, j]) for j in range(d)}})
    catalog = work / "catalog.duckdb"
    (_, ingest_s) = await _atimed(_ingest(open_store, ingest_arrow, catalog, table))
    backend = open_backend("", catalog, base_url="http://localhost", readonly_role="")
    engine = QueryEngine(backend, await load_metadata(backend))
    holder: dict[str, Any] = {}
    resources = AnomalyResources(engine=lambda: engine, jobs=lambda: holder.get("system"))
    kinds = [JobKind(SCORE_KIND, run_score, check=check, resources=resources),
             JobKind(CHUNK_KIND, run_chunk, resources=resources)]
    config = replace(job_config(Settings()), store_url=f"sqlite:///{work / 'jobs.sqlite'}",
                     results_dir=work / "results", local_workers=2, sweep_interval=0)
    system = await open_job_system(config, kinds)
    holder["system"] = system
    try:
        forest.score(forest.fit(np.zeros((4, 2)), ntrees=1), np.zeros((1, 2)))  # compile outside the timing
        features = ", ".join(f"f{j}" for j in range(d))
        params = [Parameter("QUERY", f"SELECT id, {features} FROM bench.points"),
                  Parameter("RESPONSEFORMAT", "parquet")]
        start = time.perf_counter()
        created = await system.create(SCORE_KIND, params, run=True)
        phase = created.phase
        while phase not in (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED):
            phase = await system.wait(created.job_id, phase, 5.0) or Phase.ERROR
        total = time.perf_counter() - start
        done = await system.store.get(created.job_id)
        assert done is not None
        if phase is not Phase.COMPLETED:
            print(f"  job ended {phase}: {done.error}")
            return
        summary = json.loads((system.job_dir(created.job_id) / "results" / "summary.json").read_text())
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in summary["timings"].items())
        print(f"  (ingest into DuckDB {ingest_s:.1f} s, not part of the job)")
        print(f"  job end to end: {total:.1f} s for {summary['rows']['scored']:,} rows in {summary['chunks']} chunks "
              f"({timings}; the rest is writing results)  target <= 60 s")
    finally:
        await system.close()
        await backend.close()


async def _ingest(open_store: Any, ingest_arrow: Any, catalog: Path, table: pa.Table) -> None:
    async with await open_store("", catalog, readonly_role="") as store:
        await ingest_arrow(store, "bench.points", table)


async def _atimed(awaitable: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = await awaitable
    return value, time.perf_counter() - start


def fidelity_figures() -> None:
    print("fidelity: the paper's 2-D data, 200 trees, 256 samples")
    data = fidelity.blob(seed=3)
    ours = [forest.score(forest.fit(data, seed=s), data) for s in (1, 2)]
    print(f"  Spearman ours(seed 1) vs ours(seed 2):           {_rho(ours[0], ours[1]):.4f}")
    try:
        import eif

        theirs = []
        for seed in (1, 2):
            np.random.seed(seed)
            theirs.append(eif.iForest(data, ntrees=NTREES, sample_size=SAMPLE, ExtensionLevel=1)
                          .compute_paths(X_in=data))
        print(f"  Spearman ours vs eif 2.0.2 (blob, 500 points):   {_rho(ours[0], theirs[0]):.4f}")
        print(f"  Spearman eif(seed 1) vs eif(seed 2):             {_rho(theirs[0], theirs[1]):.4f}")
    except ImportError:
        print("  eif: not installed")
    try:
        import isotree

        iso = isotree.IsolationForest(ndim=2, ntrees=NTREES, sample_size=SAMPLE, max_depth=8, coefs="normal",
                                      missing_action="fail", standardize_data=False, prob_pick_pooled_gain=0,
                                      nthreads=1, random_seed=1).fit(data).predict(data)
        print(f"  Spearman ours vs isotree (blob):                 {_rho(ours[0], iso):.4f}")
    except ImportError:
        print("  isotree: not installed (pip install -e '.[bench]')")
    for name, level in (("standard (level 0)", 0), ("extended (level 1)", 1)):
        ring = [fidelity.ring_anisotropy(_scorer(fidelity.blob(), level, s)) for s in (1, 2, 3)]
        gap = [fidelity.gap_contrast(_scorer(fidelity.sinusoid(), level, s)) for s in (1, 2, 3)]
        print(f"  {name}: blob ring anisotropy {np.mean(ring):+.4f} (seeds {', '.join(f'{v:+.4f}' for v in ring)}); "
              f"sinusoid pocket contrast {np.mean(gap):+.4f}")


def _scorer(data: np.ndarray, level: int, seed: int) -> fidelity.Scorer:
    fitted = forest.fit(data, ntrees=NTREES, sample_size=SAMPLE, extension_level=level, seed=seed)
    return lambda rows: forest.score(fitted, rows)


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b).statistic)


def planted() -> None:
    from release.demo.catalog import build_tile
    from release.demo.generate import PROFILES
    from release.tiling import tile_by_name

    print("planted: the ten tiles of the demo release; features g r i z Y magnitudes and g-r r-i i-z z-Y")
    tiles = [build_tile(tile_by_name(name)) for name in PROFILES["demo"].tiles]
    mags = np.column_stack([np.concatenate([t.columns[f"mag_auto_{b}"] for t in tiles]) for b in "grizy"])
    mags = mags.astype(np.float64)
    data = np.hstack([mags, mags[:, :-1] - mags[:, 1:]])
    feature = np.concatenate([t.feature_id for t in tiles])
    note = np.concatenate([t.note for t in tiles])
    center, scale = standardization(data)
    scores = forest.score(forest.fit((data - center) / scale, ntrees=NTREES, sample_size=SAMPLE, seed=1),
                          (data - center) / scale)
    print(f"  {data.shape[0]:,} rows")
    labels = {
        "features 7 + 8 (30 rows)": np.isin(feature, [7, 8]),
        "  7 dropouts (g, r undetected)": (feature == 7) & np.char.startswith(note.astype(str), "dropout"),
        "  7 extreme z-Y > 0.5": (feature == 7) & np.char.startswith(note.astype(str), "extreme"),
        "  8 single-band detections": feature == 8,
        "4 Y no-data stripe (MAG_AUTO_Y = 99)": feature == 4,
    }
    for name, label in labels.items():
        print(f"  {name:<40} n={int(label.sum()):4d}  ROC AUC {fidelity.roc_auc(scores, label):.3f}  "
              f"recall in top 1 % {fidelity.recall_at(scores, label):.2f}")


def _bench_dir() -> Path:
    path = ROOT / "var" / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--sections", default="speed,job,fidelity,planted")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # long runs: show each figure as it comes
    sections = set(args.sections.split(","))
    if "speed" in sections:
        speed(args.rows, args.features)
    if "job" in sections:
        job(args.rows, args.features)
    if "fidelity" in sections:
        fidelity_figures()
    if "planted" in sections:
        planted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
