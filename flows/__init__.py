"""Prefect flows and tasks: file and database I/O around the pure functions in `nlp`."""
