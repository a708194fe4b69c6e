"""The web channel: the embeddable chat widget, its WebSocket and its sessions (docs/web.md)."""
