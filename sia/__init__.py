"""SIA 2.0 query over ivoa.obscore."""
