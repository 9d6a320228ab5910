"""The library that faces CouchDB, one subpackage a concern (ARCHITECTURE.md has the table and the layers)."""
