"""Retry layer: the retry decision and backoff (sans-IO), the retry budget and the transport."""
