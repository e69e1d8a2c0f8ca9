"""The live view: /ws, LISTEN/NOTIFY fan-out to each console process's WebSocket clients."""
