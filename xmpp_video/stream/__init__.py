"""RFC 6120 stream negotiation pieces that need no I/O: states, the transition table, features."""
