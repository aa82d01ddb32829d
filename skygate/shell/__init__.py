"""``skygate shell``: an easyaccess-style ADQL shell for any TAP service (issue 19).

A client: it speaks TAP, UWS and VOSI over HTTP (requests, pyvo's parsers, astropy) and imports
nothing of the server packages (tests/test_layers.py checks it).

- ``client``: HTTP to one service (sync with a bounded wait, UWS jobs, errors in one line).
- ``metadata``: tables and columns (cached per service URL), capabilities, DALI examples.
- ``session``: the shell's state and the query pipeline (``Shell.handle``).
- ``commands``: describe_table, find_tables, jobs, examples, myquota, ... with their help.
- ``usertables``: load_table, mytables, drop_table (tables kept by the service, or for the session).
- ``cutout``: image cutouts through ObsCore, DataLink and SODA.
- ``completion``: Tab completion; ``display``: result tables and error markers; ``files``: result files.
- ``repl``: the prompt (history, highlighting, multi-line entry) and the command-line entry point.
"""
