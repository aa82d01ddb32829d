"""The sky as Aladin sees it: MOC 2.0 footprints and HiPS surveys of the release, served statically.

- ``moc.py``: the footprints (one MOC per positional table, from its HEALPix index; one for the image
  collection, from the exact tile polygons), built after ingest and stored under ``{data_dir}/moc``.
- ``hips.py``: the HiPS surveys of the coadds (per band FITS + PNG, colour i r g), built by
  ``skygate hips build`` (and ``skygate demo``) under ``{data_dir}/hips``, incrementally;
  ``hipsplan.py`` says which tiles a build must redo, ``hipsmeta.py`` writes ``properties``, the
  hipslist and the build record.
- ``routes.py``: ``/moc`` (a readable index) and ``/moc/{name}`` (MOC 2.0 FITS, JSON or ASCII),
  ``/hips/list`` and the surveys' files under ``/hips``.
- ``viewer.py``: ``/sky``, Aladin Lite over the colour HiPS and the footprints.

Uses ``dali`` and ``release``; only ``skygate`` imports it.
"""
