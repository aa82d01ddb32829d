"""The assembly: everything else is wired together here, and nothing imports this package.

- ``settings``: the only reader of the ``SKYGATE_*`` environment.
- ``app``: ``create_app(settings)`` builds the Starlette application and mounts every service.
- ``worker``: the table of job kinds and the ``skygate worker`` entry point.
- ``cli``: the ``skygate`` command (serve, worker, demo, ingest, adql, ...).
- ``portal``: the HTML front page.
"""

__version__ = "0.1.0"
