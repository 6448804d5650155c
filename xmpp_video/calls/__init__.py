"""Calls: what the server knows of each 1:1 call (SPEC §6).

`signals` reads JMI messages and Jingle iqs into typed signals, `machine` is the call state
machine (both pure); `process` owns one call (timers, persistence, the stanzas the server sends
on its own); `manager` follows routed traffic, supervises the processes and rebuilds them after
a restart.
"""
