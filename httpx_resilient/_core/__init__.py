"""Plumbing every layer shares: clock, errors, body buffering and replay, deadlines,
headers, keys, credentials, redaction, the Layer base, statistics snapshots and config
validators. Imports no layer.
"""
