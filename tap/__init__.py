"""TAP 1.1: /sync, /async (a job kind), TAP_SCHEMA, VOSI tables, examples, table upload.

- ``params``: the TAP request (LANG, QUERY, RESPONSEFORMAT/FORMAT, MAXREC, RUNID, UPLOAD) as a value.
- ``service``: run one query (uploads fetched and parsed, engine started, result writer); shared by
  /sync and the async job kind; ``TapConfig`` holds the settings TAP uses.
- ``jobs``: the ``tap.query`` job kind for ``skygate/worker.py`` (run, check, /error renderer).
- ``capabilities``, ``tables``, ``examples``: the VOSI/TAPRegExt, VOSI tables and DALI-examples documents.
- ``routes``: the HTTP edge mounted at /tap (the only module here that uses Starlette).
"""
