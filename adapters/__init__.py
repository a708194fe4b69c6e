"""Connections to external business systems (order tracker, refunds, CRM, remote LLM servers).

Each adapter implements a Protocol from `engine` and is wired in by `bot`; none exist yet.
"""
