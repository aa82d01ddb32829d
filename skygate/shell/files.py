"""Result files: which format a file name asks for, streaming a service's answer to disk, converting.

A format the service produces itself (its capabilities list it) is streamed to disk as it arrives;
any other (HDF5 always; FITS or Parquet from a service without them) is fetched as VOTable and
converted here with astropy. Files are written beside the target and renamed into place, so an
interrupted download never leaves a half file under the asked name.
Tests: tests/skygate/shell/test_units.py.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from skygate.shell.client import ServiceError

__all__ = ["FileFormat", "convert_votable", "count_rows", "file_format", "stream_to"]


@dataclass(frozen=True, slots=True)
class FileFormat:
    """``responseformat`` and ``mime`` as TAP names them (None: the service never writes it)."""

    name: str
    responseformat: str | None
    mime: str | None
    astropy_format: str


_FORMATS = {
    ".csv": FileFormat("csv", "csv", "text/csv", "ascii.csv"),
    ".tsv": FileFormat("tsv", "tsv", "text/tab-separated-values", "ascii.tab"),
    ".fits": FileFormat("fits", "fits", "application/fits", "fits"),
    ".parquet": FileFormat("parquet", "parquet", "application/vnd.apache.parquet", "parquet"),
    ".vot": FileFormat("votable", "votable", "application/x-votable+xml", "votable"),
    ".xml": FileFormat("votable", "votable", "application/x-votable+xml", "votable"),
    ".h5": FileFormat("hdf5", None, None, "hdf5"),
    ".hdf5": FileFormat("hdf5", None, None, "hdf5"),
}
SUFFIXES = tuple(sorted(_FORMATS))


def file_format(path: Path) -> FileFormat:
    """The format a file name asks for, from its suffix."""
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise ServiceError(f"{path.name}: unknown file type; use one of {', '.join(SUFFIXES)}")
    return found


def stream_to(chunks: Iterable[bytes], path: Path) -> int:
    """Write the chunks to ``path`` (via a scratch file renamed at the end); the bytes written."""
    scratch = path.with_name(f".{path.name}.part")
    written = 0
    try:
        with open(scratch, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        os.replace(scratch, path)
    except requests.RequestException as exc:  # an OSError too, so it is caught first
        raise ServiceError(f"the service stopped sending the result midway; {path.name} is not written "
                           "(a service failure while streaming: try another format, or ask its operators)") from exc
    except OSError as exc:
        raise ServiceError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        scratch.unlink(missing_ok=True)
    return written


def convert_votable(source: Path, target: Path, fmt: FileFormat) -> int:
    """Rewrite a VOTable file in ``fmt``; the number of rows."""
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = Table.read(source, format="votable", use_names_over_ids=True)
        scratch = target.with_name(f".{target.name}.part")
        try:
            options = {"path": "data", "serialize_meta": True} if fmt.astropy_format == "hdf5" else {}
            table.write(scratch, format=fmt.astropy_format, overwrite=True, **options)
            os.replace(scratch, target)
        except ImportError as exc:
            raise ServiceError(f"writing {fmt.name} needs {exc.name or 'a missing package'}") from exc
        except OSError as exc:
            raise ServiceError(f"cannot write {target}: {exc.strerror or exc}") from exc
        finally:
            scratch.unlink(missing_ok=True)
    return len(table)


def count_rows(path: Path, fmt: FileFormat) -> int | None:
    """Rows in a written result file, read cheaply (headers, metadata); None when unknown."""
    try:
        if fmt.name == "fits":
            from astropy.io import fits

            with fits.open(path, memmap=True) as hdus:
                return int(hdus[1].header.get("NAXIS2", 0)) if len(hdus) > 1 else 0
        if fmt.name == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        from astropy.table import Table

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kwargs = {"path": "data"} if fmt.name == "hdf5" else {}
            return len(Table.read(path, format=fmt.astropy_format, **kwargs))
    except Exception:  # noqa: BLE001 (a count is a courtesy; the file is written either way)
        return None
