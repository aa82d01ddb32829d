"""A second TAP service with another schema, for the shell's tests: TAP sync + VOSI /tables only.

Serves ``gaia.source`` from SQLite (the ADQL subset the tests send: ``SELECT TOP n`` becomes
``LIMIT n``), answers errors as DALI error VOTables with a character position, has no /async,
/capabilities or /examples (404), and records the Authorization header of every request.
"""

from __future__ import annotations

import io
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from astropy.table import Table

ROWS = [(4295806720 + i, 45.0 + i * 0.01, 10.0 - i * 0.01, 12.0 + i * 0.1) for i in range(25)]
TABLES = """<?xml version="1.0" encoding="UTF-8"?>
<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
  xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<schema><name>gaia</name><table><name>gaia.source</name><description>a few Gaia-like stars</description>
<column><name>source_id</name><dataType xsi:type="vs:TAPType">BIGINT</dataType><ucd>meta.id</ucd></column>
<column><name>ra</name><unit>deg</unit><dataType xsi:type="vs:TAPType">DOUBLE</dataType></column>
<column><name>dec</name><unit>deg</unit><dataType xsi:type="vs:TAPType">DOUBLE</dataType></column>
<column><name>phot_g_mean_mag</name><unit>mag</unit><dataType xsi:type="vs:TAPType">REAL</dataType></column>
</table></schema></vosi:tableset>
"""
_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results">
<INFO name="QUERY_STATUS" value="ERROR">{}</INFO></RESOURCE></VOTABLE>
"""


@dataclass
class Double:
    url: str
    authorizations: list[str | None] = field(default_factory=list)


def _run(query: str) -> bytes:
    sql = re.sub(r"^\s*SELECT\s+TOP\s+(\d+)\s+(.*)$", r"SELECT \2 LIMIT \1", query, flags=re.IGNORECASE | re.DOTALL)
    with sqlite3.connect(":memory:") as db:
        db.execute("ATTACH ':memory:' AS gaia")
        db.execute("CREATE TABLE gaia.source (source_id INTEGER, ra REAL, dec REAL, phot_g_mean_mag REAL)")
        db.executemany("INSERT INTO gaia.source VALUES (?, ?, ?, ?)", ROWS)
        cursor = db.execute(sql)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    table = Table(rows=rows or None, names=names) if rows else Table(names=names)
    for name in names:
        if name in ("ra", "dec"):
            table[name].unit = "deg"
    out = io.BytesIO()
    table.write(out, format="votable")
    return out.getvalue()


@contextmanager
def tap_double() -> Iterator[Double]:
    """Serve the double on a free port until the block ends."""
    double = Double("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            double.authorizations.append(self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/tap/tables":
                self._answer(200, TABLES.encode(), "text/xml")
            else:
                self._answer(404, b"not here\n", "text/plain")

        def do_POST(self) -> None:
            if self.path != "/tap/sync":
                self._answer(404, b"not here\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            query = form.get("QUERY", [""])[0]
            try:
                self._answer(200, _run(query), "application/x-votable+xml")
            except sqlite3.Error as exc:
                message = f"cannot run the query: {exc} (at char {len(query.split('FROM')[0])})"
                self._answer(400, _ERROR.format(message).encode(), "application/x-votable+xml")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    double.url = f"http://127.0.0.1:{server.server_address[1]}/tap"
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
