"""The node's directory of organisations: who they are, their roles, and their client keys."""
