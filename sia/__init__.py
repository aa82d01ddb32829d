"""SIA 2.0 query over ivoa.obscore.

``params`` (POS, BAND, TIME, ... as typed alternatives), ``service`` (SQL for the plain
constraints, the exact spherical overlap with ``s_region``, the ObsCore-shaped VOTable with
DataLink and SODA descriptors), ``routes`` (``/sia/query``, ``/sia/capabilities``,
``/sia/availability``). The regions and the overlap test live in ``dali.regions``.
"""
