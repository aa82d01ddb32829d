"""Table and column metadata shared by every layer.

These values describe published tables (the source of TAP_SCHEMA and VOSI tables), the output
columns of a translated query, and uploaded tables. Pure data: no I/O.
Tests: tests/dali/test_values.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VOTABLE_DATATYPES", "Column", "ForeignKey", "Position", "TableMeta"]

# VOTable 1.4 primitive datatypes (TAP 1.1 TAP_SCHEMA.columns.datatype uses the same names).
VOTABLE_DATATYPES = frozenset(
    {"boolean", "bit", "unsignedByte", "short", "int", "long", "char", "unicodeChar", "float", "double",
     "floatComplex", "doubleComplex"}
)


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its ADQL name and its TAP_SCHEMA metadata.

    ``name`` is the lower-case ADQL name, identical to the physical column name in the backend.
    ``datatype`` is a VOTable datatype; ``arraysize`` follows VOTable ("12", "*", "2", "12*").
    ``null`` is the value that stands for a missing one when the data declare it (VOTable
    ``VALUES null``; FITS ``TNULLn``), written as in VOTable, e.g. ``"-9999"``.
    """

    name: str
    datatype: str
    arraysize: str | None = None
    xtype: str | None = None
    unit: str | None = None
    ucd: str | None = None
    utype: str | None = None
    description: str | None = None
    principal: bool = False
    indexed: bool = False
    std: bool = False
    null: str | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """The indexed sky position of a table.

    ``ra``/``dec`` are columns in degrees (ICRS). ``index_column`` holds the HEALPix NESTED index
    of (ra, dec) at ``index_order``; the ADQL translator turns literal regions into ranges on it.
    ``tolerance`` (degrees) pads those ranges when the index was computed from a slightly
    different position than ra/dec (e.g. a rounded copy).
    """

    ra: str
    dec: str
    index_column: str
    index_order: int
    tolerance: float = 0.0


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A TAP_SCHEMA key: ``from_columns`` of this table reference ``target_table`` (qualified)."""

    key_id: str
    target_table: str
    from_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TableMeta:
    """One published table.

    ``schema`` and ``name`` are lower-case and equal to the physical names in the backend;
    ``qualified`` ("schema.name") is the key used everywhere metadata is looked up.
    Columns whose names start with ``skygate_`` are internal (index columns): the translator may
    use them but they are not published in TAP_SCHEMA.
    """

    schema: str
    name: str
    columns: tuple[Column, ...]
    description: str | None = None
    utype: str | None = None
    table_type: str = "table"
    nrows: int | None = None
    position: Position | None = None
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        for col in self.columns:
            if col.name == lowered:
                return col
        return None

    @property
    def published_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.name.startswith("skygate_"))
