"""The design documents as code: compile, diff and staged install (deploy), and the reduce verifier."""
