"""The operations-centre console: REST API, live WebSocket view, web page (issue to come)."""
