"""OpenTelemetry traces (GenAI semantic conventions) over OTLP/HTTP; the tracer loads only when [telemetry] is set."""
