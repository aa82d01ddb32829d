"""TAP 1.1: /sync, /async (a job kind), TAP_SCHEMA, VOSI tables, examples, table upload."""
