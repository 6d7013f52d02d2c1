"""Staging: each rank's random sample of files copied to node-local storage over MPI, each read once.

- :mod:`staging.plan`: who needs, reads (owns) and writes which file; pure, no MPI.
- :mod:`staging.transfer`: the MPI transfer (chunked, non-blocking, verified, resumable).
- :mod:`staging.cli`: ``climseg stage``.
"""
