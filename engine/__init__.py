"""The core: message types, stage protocols, the pipeline and generation. Imports nothing of ours."""

from engine.delivery import Dispatcher, LocalReplyBus
from engine.pipeline import Engine
from engine.types import (
    Action,
    Citation,
    ConversationRef,
    EventKind,
    HistoryEntry,
    Message,
    Passage,
    Reply,
    ReplyEvent,
    Retrieved,
    Turn,
)

__all__ = [
    "Action",
    "Citation",
    "ConversationRef",
    "Dispatcher",
    "Engine",
    "EventKind",
    "HistoryEntry",
    "LocalReplyBus",
    "Message",
    "Passage",
    "Reply",
    "ReplyEvent",
    "Retrieved",
    "Turn",
]
