"""Flower components of a federated CRLM run (see crlm.federated)."""
