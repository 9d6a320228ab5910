"""The log documents: their schema, the idempotent writer, and the bulk loader over files."""
