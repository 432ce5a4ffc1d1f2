"""Live events: the event bus and the WebSocket endpoints that fan them out to browsers and API clients."""
