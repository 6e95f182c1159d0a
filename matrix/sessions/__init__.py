"""The bodies of the nox sessions: one file per session, each given its state explicitly."""
