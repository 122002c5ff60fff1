"""Circuit-breaker layer: the sans-IO state machine (``policy``), the in-process
transport (``transport``) and the variant whose state lives in a backend (``shared``).

Import from the modules: this package imports none of them, so that the httpx2 face can
use the shared ones (config, policy, store) without importing httpx.
"""
