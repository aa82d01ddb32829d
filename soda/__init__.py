"""SODA 1.0 cutouts (sync, and async as a job kind), bulk cutouts, and the DataLink {links} service.

``pixels`` (read a rectangle of a tile-compressed image, only the tiles under it, whole or by
blocks of rows), ``cutout`` (region -> pixel box, the cut extensions with their shifted WCS, the
FITS file written block by block as the pixels are read), ``params`` (SODA and
bulk parameters), ``service`` (dataset IDs -> files, sync cutouts, previews, the DataLink
document), ``bulk`` (DESaccess-style position lists, FITS and Lupton PNGs, summary, archive),
``jobs`` (the ``soda-async`` and ``soda-bulk`` job kinds), ``routes`` (everything under ``/soda``).
"""
