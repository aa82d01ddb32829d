"""The sky as Aladin sees it: MOC 2.0 footprints and HiPS surveys of the release, served statically.

- ``moc.py``: the footprints (one MOC per positional table, from its HEALPix index; one for the image
  collection, from the exact tile polygons), built after ingest and stored under ``{data_dir}/moc``.
- ``routes.py``: ``/moc`` (a readable index) and ``/moc/{name}`` (MOC 2.0 FITS, JSON or ASCII).

Uses ``dali`` and ``release``; only ``skygate`` imports it.
"""
