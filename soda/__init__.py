"""SODA 1.0 cutouts (sync, and async as a job kind), bulk cutouts, and the DataLink {links} service."""
