"""HTTP API handlers (SPEC §4): thin layers over auth/, turn.py and storage/."""
