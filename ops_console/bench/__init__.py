"""`cityhub bench console`: WebSocket fan-out latency and the board's API query times."""
