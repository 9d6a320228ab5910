"""Talking to CouchDB: the only HTTP client, cached view reads, index builds, server settings, security."""
