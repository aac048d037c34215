"""ASGI middleware: correlation id + access log + metrics, security headers, size limits."""
