"""Time ADQL parse + validate + translate per query, beside queryparser-python3 (AIP).

Queries: the DES DR1 example queries in ADQL (``DES_QUERIES``, over DES-shaped metadata) and the IVOA ADQL 2.1 query
set (ivoa/lyonetia ``src/adql/ivoa``, GPL-3, so not in this repository: set ``ADQL_IVOA_CORPUS`` to a
copy; metadata made up from the names each query uses, so the whole pipeline runs). queryparser-python3
translates the same texts to PostgreSQL in the same
process; install it into the venv to compare (it is not a project dependency), otherwise it is
skipped with a message. Prints median and p95 in milliseconds. Target: median <= 2 ms.

    .venv/bin/python benchmarks/adql_translate.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import adql
from dali.values import Column, Position, TableMeta

ROOT = Path(__file__).resolve().parents[1]
CORPUS = os.environ.get("ADQL_IVOA_CORPUS", "")

DES_QUERIES = [
    "SELECT TOP 5 ra, dec, mag_auto_g, tilename FROM des_dr1.main_sample",
    ("SELECT TOP 1000 alphawin_j2000 AS rap, deltawin_j2000 AS decp, mag_auto_g, tilename FROM des_dr1.main "
    "WHERE ra BETWEEN 323.0 AND 324.0 AND dec BETWEEN -1.0 AND 0.0"),
    ("SELECT coadd_object_id, ra, dec, mag_auto_g AS g, mag_auto_r AS r, "
    "wavg_mag_psf_g AS g_psf, wavg_mag_psf_r AS r_psf "
    "FROM des_dr1.main WHERE ra BETWEEN 323.24 AND 323.48 AND dec BETWEEN -0.94 AND -0.70 "
    "AND wavg_spread_model_i + 3.0*wavg_spreaderr_model_i < 0.005 AND wavg_spread_model_i > -1 "
    "AND imaflags_iso_g = 0 AND imaflags_iso_r = 0 AND flags_g < 4 AND flags_r < 4"),
    ("SELECT hpix_1024, COUNT(mag_auto_i) AS n FROM des_dr1.main "
    "WHERE wavg_spread_model_i + 3.0*wavg_spreaderr_model_i < 0.005 "
    "AND wavg_spread_model_i > -1 AND imaflags_iso_i = 0 AND mag_auto_i < 21 GROUP BY hpix_1024"),
    ("SELECT hpix_1024, COUNT(mag_auto_i) AS n, AVG(mag_auto_i) AS mean_i FROM des_dr1.main "
    "WHERE extended_class_coadd = 3 AND mag_auto_i < 23 GROUP BY hpix_1024"),
    ("SELECT tilename FROM des_dr1.tile_info "
    "WHERE -0.5 >= udecmin AND -0.5 < udecmax AND ((crossra0='N' AND 359.9 >= uramin "
    "AND 359.9 < uramax) OR (crossra0='Y' AND (359.9 >= uramax OR 359.9 < uramin)))"),
    "SELECT ra, dec FROM des_dr1.main WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 323.36, -0.82, 0.1))",
]


def des_metadata() -> dict[str, TableMeta]:
    cols = [Column("coadd_object_id", "long"), Column("tilename", "char", "12"), Column("ra", "double", unit="deg"),
            Column("dec", "double", unit="deg"), Column("alphawin_j2000", "double"), Column("deltawin_j2000", "double"),
            Column("hpix_1024", "long"), Column("extended_class_coadd", "short"),
            Column("wavg_spread_model_i", "float"), Column("wavg_spreaderr_model_i", "float"),
            Column("skygate_hpx", "long")]
    for band in "grizy":
        cols += [Column(f"mag_auto_{band}", "float", unit="mag"), Column(f"wavg_mag_psf_{band}", "float", unit="mag"),
                 Column(f"flags_{band}", "short"), Column(f"imaflags_iso_{band}", "int")]
    pos = Position("ra", "dec", "skygate_hpx", 14, 2e-6)
    tiles = TableMeta("des_dr1", "tile_info", (*(Column(n, "double") for n in (
        "uramin", "uramax", "udecmin", "udecmax")), Column("tilename", "char", "12"), Column("crossra0", "char", "1")))
    return {"des_dr1.main": TableMeta("des_dr1", "main", tuple(cols), position=pos),
            "des_dr1.main_sample": TableMeta("des_dr1", "main_sample", tuple(cols), position=pos),
            "des_dr1.tile_info": tiles}


def corpus() -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    if not CORPUS:
        return out
    for path in sorted(Path(CORPUS).glob("*.xml")):
        root = ET.parse(path).getroot()
        udfs = [f.findtext("form", "").split("(")[0].strip() for f in root.iter("function")]
        for query in root.iter("query"):
            node = query.find("adql")
            if node is not None and node.text and node.get("valid") == "true":
                out.append((node.text, tuple(udfs)))
    return out


def made_up_metadata(text: str, udfs: tuple[str, ...]) -> dict[str, TableMeta]:
    """Tables and double columns named after what the query uses (so translate runs end to end)."""
    from sqlglot import exp

    try:
        tree = adql.parse(text, udfs=udfs)
    except adql.ADQLError:
        return {}
    # every identifier becomes a column of every table; "any" (not a VOTable type) makes the
    # translator skip type checks that made-up metadata cannot satisfy
    names = {i.name.lower() for i in tree.find_all(exp.Identifier) if i.name and not i.quoted}
    columns = tuple(Column(n, "any") for n in sorted(names))
    out = {}
    for table in tree.find_all(exp.Table):
        schema = (table.db or "public").lower()
        out[f"{schema}.{table.name.lower()}"] = TableMeta(schema, table.name.lower(), columns)
    return out


def timed(func: Callable[[], object], repeat: int) -> tuple[list[float], bool]:
    times, ok = [], True
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            func()
        except Exception:  # noqa: BLE001  (a refused query is timed as well; count it)
            ok = False
        times.append((time.perf_counter() - start) * 1000)
    return times, ok


def report(label: str, samples: list[list[float]], failures: int) -> None:
    per_query = [min(s) for s in samples]  # best of the repeats: the steady-state cost
    per_query.sort()
    median = statistics.median(per_query)
    p95 = per_query[max(0, round(0.95 * len(per_query)) - 1)]
    print(f"  {label:<34} n={len(per_query):<4} median {median:7.3f} ms   p95 {p95:7.3f} ms   refused {failures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    try:
        from queryparser.adql import ADQLQueryTranslator
    except ImportError:
        ADQLQueryTranslator = None
        print("queryparser-python3 is not installed: skipping it (pip install queryparser-python3 to compare)")

    sets = {"DES examples": [(q, (), des_metadata()) for q in DES_QUERIES]}
    conf = corpus()
    if conf:
        sets["IVOA ADQL 2.1 corpus (valid)"] = [(q, u, made_up_metadata(q, u)) for q, u in conf]
    else:
        print("ADQL_IVOA_CORPUS is unset or empty: only the DES examples are timed")
    for name, queries in sets.items():
        print(f"{name}:")
        for dialect in adql.DIALECTS:
            samples, failures = [], 0
            for text, _udfs, meta in queries:
                times, ok = timed(lambda: adql.translate(text, meta, dialect, maxrec=1000), args.repeat)  # noqa: B023
                samples.append(times)
                failures += not ok
            report(f"skygate adql -> {dialect}", samples, failures)
        samples, failures = [], 0
        for text, udfs, _ in queries:
            times, ok = timed(lambda: adql.parse(text, udfs=udfs), args.repeat)  # noqa: B023
            samples.append(times)
            failures += not ok
        report("skygate adql.parse (syntax only)", samples, failures)
        if ADQLQueryTranslator is not None:
            samples, failures = [], 0
            for text, _, _ in queries:
                times, ok = timed(lambda: ADQLQueryTranslator(text).to_postgresql(), args.repeat)  # noqa: B023
                samples.append(times)
                failures += not ok
            report("queryparser-python3 -> postgres", samples, failures)


if __name__ == "__main__":
    main()
