"""Typed stanza envelopes, error conditions and namespaces. Pure: no I/O."""
