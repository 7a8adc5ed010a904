"""Plain ASGI middleware: each wraps the app for one concern of every request."""
