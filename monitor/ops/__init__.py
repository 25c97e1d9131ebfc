"""What an operator sees: /healthz and /metrics, Prometheus metrics, structured logs."""
