"""Priority queue (bulkhead) layer: the wait queue, the slot-releasing body stream and the
transport.
"""
