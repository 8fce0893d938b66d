"""ZeroMQ stages of the edge service: ingest, inspect worker, publisher, journal, query, control."""
