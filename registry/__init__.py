"""The services describing themselves, and Simple Cone Search over each positional table.

- ``params.py``: SCS 1.03 request parameters -> ``ConeQuery``.
- ``cone.py``: the cone as ADQL through the release's query engine; SCS fields, errors, capabilities.
- ``curation.py``: the curation block (``SKYGATE_REGISTRY_METADATA``) and IVOA identifiers.
- ``records.py``: VOResource 1.1 records built from the services' VOSI capabilities and the release.
- ``coverage.py``: the release's footprint MOC, spectral and temporal coverage, measured once.
- ``ledger.py``: the records' created/updated dates and deleted records, kept across restarts.
- ``service.py``: ``Publisher``, the deployment's records on demand.
- ``oai.py``: OAI-PMH 2.0 (six verbs, ``ivo_vor`` and ``oai_dc``, stateless resumption tokens).
- ``page.py``: the ``/registry`` HTML page.
- ``routes.py``: ``/scs`` and ``/scs/{table}``, ``/registry`` and ``/registry/oai``.
- ``rr_schema.py``: the RegTAP 1.1 ``rr`` tables' metadata; ``regtap.py``: their rows, read from the
  records, as the tables TAP serves beside the release (``release.served``).
"""
