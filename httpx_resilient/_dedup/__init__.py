"""De-duplication layer: request keys and the transport that shares one upstream call."""
