"""Metrics layer: the metrics transport, latency histogram, health, and the Prometheus and
OpenTelemetry exporters.
"""
