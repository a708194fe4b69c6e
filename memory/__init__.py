"""Per-user memory on Redis: conversation history now; long-term facts and profiles build on the same keys."""
