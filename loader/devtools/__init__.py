"""Development tools, imported by nothing at runtime: traffic generator, PouchDB Server, live servers for tests."""
