"""What an operator sees: /healthz and /metrics, Prometheus metrics, structured logs."""

__all__ = ["health", "logs", "metrics"]  # imported by submodule: `from monitor.ops import metrics`
