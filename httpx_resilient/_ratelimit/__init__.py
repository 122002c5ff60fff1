"""Rate-limit layer: token buckets per key (sans-IO), server hints, priority waiters, the
backend protocol and the transport.
"""
