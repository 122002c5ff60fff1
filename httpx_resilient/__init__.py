"""httpx_resilient: resilience layers for httpx.AsyncClient."""
