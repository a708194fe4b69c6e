"""The composition root: builds every component from settings and owns their lifetimes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis

from adapters.callbacks import CallbackNotifier
from adapters.http import FencedClient, HostRules
from adapters.remote_llm import RemoteGenerator, RemoteSettings
from bot.settings import FileConfig, Settings, SettingsError
from bot.tools import ToolKit, build_tools, consent_signer, demo_leftovers
from channels.mobile import MobileNotifier
from channels.web.notices import WebNotifier
from engine import Action, Dispatcher, Engine, LocalReplyBus
from engine.agent_replies import AgentReplies
from engine.detector import DetectorError, MessageDetector
from engine.generation.local import LoadOptions, LocalGenerator, pick_device
from engine.generation.models import CATALOG, is_prepared, resolve
from engine.handover import BackgroundRetries, EarlierReading, FailureFollowUp, HandOver, PersonHolds
from engine.judge import FeatureJudge, JudgeError, JudgeModel
from engine.language import dominant_language
from engine.notices import NoteAddress, Notices, Notifier
from engine.policy import IntentSpec, PolicyConfig
from engine.protocols import GenerationParams, GenerationUnavailable, Redactor, Stage
from engine.reader import READER_FEATURES, Reader
from engine.segments import Segment, Segments
from engine.stages import Decide, Generate, Recall, Remember, Retrieve, Understand, Weigh
from engine.stages.act import Act, Consent
from engine.stages.generate import Persona
from engine.stages.translate import TranslateQuery
from engine.stages.understand import IntentIndex
from engine.stages.weigh import ReaderStack, WeighConfig
from engine.tools import ToolError
from memory.actions import RedisAddressBook, RedisAuditLog, RedisPendingChoices, RedisProposals
from memory.embedded import EmbeddedRedis
from memory.escalations import RedisEscalationStore
from memory.jobs import RedisJobQueue
from memory.ledger import RedisIngressLedger
from memory.stats import RedisSafetyCounter
from memory.store import RedisMemoryStore, RedisUnavailableError
from memory.web import RedisFrameLog
from retrieval.documents import KnowledgeError, describe_unused
from retrieval.embeddings import SentenceEmbedder
from retrieval.index import FaissRetriever
from retrieval.ingest import Chunking, ensure_index, previous_index
from retrieval.live import IndexWatcher, LiveIndex
from safety.detectors import GuardDetectors, load_shipped
from safety.entities import EntityExtractor, ExtractEntities, Product
from safety.guards import GuardInput, GuardOutput, QuarantinePassages, flag_injected
from safety.injection import InjectionDetector
from safety.pii import PatternEntity, PiiSettings, PresidioRedactor, RedactPII, RestorePII
from safety.sanitize import SanitizeInput
from safety.toxicity import ToxicityDetector, ToxicitySettings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def intent_specs(config: FileConfig) -> list[IntentSpec]:
    return [
        IntentSpec(
            name=name,
            examples=tuple(spec.examples),
            actions=tuple(Action(label=a.label, action=a.action) for a in spec.actions),
            escalate=spec.escalate,
            response=response,
            translations=translations,
            courtesy=spec.courtesy,
            cues=tuple(tuple(group) for group in spec.cues if group),
            # messages are read NFKC-normalised (engine/text.py): so are the patterns (Thai "ำ", full-width forms)
            patterns=tuple(
                re.compile(unicodedata.normalize("NFKC", pattern), re.IGNORECASE) for pattern in spec.patterns
            ),
        )
        for name, spec in config.intents.items()
        for response, translations in [spec.responses()]
    ]


DATA = Path(__file__).resolve().parent.parent / "engine" / "data"
DEFAULT_JUDGE = DATA / "evidence-judge.json"


def load_judge_model(config: FileConfig) -> JudgeModel:
    return JudgeModel.load(config.policy.judge or DEFAULT_JUDGE)


DEFAULT_PERSON_DETECTOR = DATA / "person-detector.json"


def load_person_detector(config: FileConfig) -> MessageDetector | None:
    """The person-request detector `policy.person_detector` names (the shipped one by default); a file that
    cannot be used, or one fitted on another embedder, is a start-up error naming the key."""
    chosen, embedder = config.policy.person_detector, config.retrieval.embedder
    if chosen == "off":
        return None
    path = chosen or DEFAULT_PERSON_DETECTOR
    try:
        model = MessageDetector.load(path)
    except DetectorError as error:
        raise SettingsError(f"policy.person_detector: {error}") from None
    if model.embedder != embedder:
        if chosen is None:  # a deployment with its own embedder still starts, on patterns and examples
            log.warning(
                "policy.person_detector: the shipped detector was fitted on the %s embedder, not %s; requests for "
                "a person are found by the patterns and examples alone (fit one: switchboard eval person-detector)",
                model.embedder,
                embedder,
            )
            return None
        fitted = f"{path} was fitted on the {model.embedder} embedder, not {embedder}"
        raise SettingsError(f"policy.person_detector: {fitted}")
    threshold = config.policy.person_threshold
    return model if threshold is None else dataclasses.replace(model, threshold=threshold)


def load_guard_detectors(config: FileConfig, embedder: SentenceEmbedder) -> GuardDetectors | None:
    """The shipped self-harm, threat and injection detectors (`safety.detectors`), for this embedder."""
    if not config.safety.detectors:
        return None
    try:
        found = load_shipped(config.retrieval.embedder)
        return GuardDetectors(embedder, found) if found else None
    except DetectorError as error:
        raise SettingsError(f"safety.detectors: {error}") from None


READER_ADAPTER = "switchboard-reader"  # the reader's adapter name beside segments' adapters
READER_BASE = "qwen2.5-0.5b"  # the model the shipped reader adapter (engine/data/reader-adapter) was trained on


def reader_paths(settings: Settings, config: FileConfig) -> tuple[Path, Path] | None:
    """The reader's adapter and combiner when `policy.reader` is on (the shipped pair unless both are set);
    what cannot run it, or a missing file, is a start-up error naming the key."""
    policy = config.policy
    if not policy.reader:
        return None
    if config.generation.backend != "local":
        raise SettingsError("policy.reader: needs the local model (generation.backend: local)")
    if settings.quantize != "none":
        raise SettingsError("policy.reader: needs float weights (SWITCHBOARD_QUANTIZE=none): the adapter stays apart")
    adapter, combiner = policy.reader_adapter, policy.reader_combiner
    if adapter is None and combiner is None:
        if settings.model != READER_BASE:
            raise SettingsError(
                f"policy.reader_adapter: the shipped reader was trained on {READER_BASE}, not {settings.model}"
            )
        adapter, combiner = DATA / "reader-adapter", DATA / "reader-combiner.json"
    if adapter is None or not (adapter / "adapter_config.json").is_file():
        raise SettingsError(f"policy.reader_adapter: no LoRA adapter at {adapter} (switchboard finetune)")
    if combiner is None or not combiner.is_file():
        raise SettingsError(f"policy.reader_combiner: no such file: {combiner} (switchboard eval calibrate-reader)")
    return adapter, combiner


def _answer_threshold(judge: JudgeModel, given: float | None, target: float | None, where: str) -> float | None:
    """A threshold given outright, or the one the judge's calibrated curve reaches `target` with."""
    if given is not None or target is None:
        return given
    try:
        return judge.threshold_for(target)
    except JudgeError as error:
        raise SettingsError(f"{where}.handover_target: {error}") from None


def policy_config(config: FileConfig, judge: JudgeModel) -> PolicyConfig:
    """The answer policy; `judge` is what scores answerability (the evidence judge, or the reader's
    combiner), whose calibration the thresholds left unset come from."""
    settings = config.policy
    answer = _answer_threshold(judge, settings.answer_threshold, settings.handover_target, "policy")
    answer = judge.threshold if answer is None else answer
    suggest = settings.suggest_threshold if settings.suggest_threshold is not None else judge.suggest_threshold
    by_segment = []
    for segment in config.segments:
        own = _answer_threshold(judge, segment.answer_threshold, segment.handover_target, f"segments.{segment.name}")
        if own is None and segment.suggest_threshold is None:
            continue
        answers_at = answer if own is None else own
        # a segment answering more readily than the policy suggests from lower down too, never above its answers
        suggests_at = segment.suggest_threshold if segment.suggest_threshold is not None else min(suggest, answers_at)
        by_segment.append((segment.name, suggests_at, answers_at))
    return PolicyConfig(
        answer_threshold=answer,
        suggest_threshold=suggest,
        by_segment=tuple(by_segment),
        min_relevance=settings.min_relevance,
        follow_up_below=settings.follow_up_below,
        second_within=settings.second_within,
        max_sentences=settings.max_sentences,
        max_sources=settings.max_sources,
        intent_threshold=settings.intent_threshold,
    )


def load_redactor(config: FileConfig) -> PresidioRedactor | None:
    pii = config.safety.pii
    if not pii.enabled:
        return None
    patterns = tuple(PatternEntity(p.name, p.regex, p.score, tuple(p.context)) for p in pii.patterns)
    return PresidioRedactor(
        PiiSettings(tuple(pii.entities), pii.score_threshold, patterns, tuple(pii.allow), pii.addresses, pii.secrets)
    )


def index_folder(settings: Settings, config: FileConfig) -> Path:
    return settings.home / "index" / config.retrieval.embedder.replace("/", "_")


REDIS_CONNECTIONS = 100  # per process; more concurrent commands wait for one
REDACTION_VERSION = 2  # how knowledge pages are redacted; a change rebuilds existing indexes


def chunking(config: FileConfig, redactor: Redactor | None = None) -> Chunking:
    pii = config.safety.pii
    redaction = f"{REDACTION_VERSION}|{pii.model_dump_json()}" if redactor is not None else ""
    return Chunking(config.knowledge.max_words, config.knowledge.overlap, redactor, redaction)


async def knowledge_index(
    config: FileConfig, embedder: SentenceEmbedder, folder: Path, how: Chunking, progress: Progress
) -> tuple[FaissRetriever, bool]:
    """The index to serve, and whether it was just built. Knowledge with an error (a file without front
    matter, two pages with one url) stops start-up only when there is no earlier index to serve: a broken
    edit must not take answering down; the watcher switches once the files are fixed."""
    paths = config.knowledge.paths
    unused = await asyncio.to_thread(describe_unused, paths)
    if unused:
        log.warning("%s", unused)
    try:
        return await asyncio.to_thread(ensure_index, paths, embedder, folder, how, config.retrieval.faiss_device)
    except KnowledgeError as error:
        previous = await asyncio.to_thread(previous_index, paths, embedder, folder, how, config.retrieval.faiss_device)
        if previous is None:
            raise
        log.error("knowledge not rebuilt, serving the index built before: %s", error)
        progress(f"the knowledge has an error, serving the index built before it: {error}")
        return previous, False


async def open_redis(settings: Settings, config: FileConfig, progress: Progress) -> tuple[Redis, EmbeddedRedis | None]:
    """REDIS_URL when set; otherwise the embedded redis-server persisted under SWITCHBOARD_HOME.

    A Redis server that is not up yet is retried with backoff for `memory.startup_wait_s`.
    """
    embedded = None
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    if url is None:
        embedded = await asyncio.to_thread(EmbeddedRedis, settings.home / "redis" / "switchboard.rdb")
        url = embedded.url
    timeout = config.memory.redis_timeout_s
    # A burst (hundreds of sockets answering at once) waits for a free connection instead of failing with
    # MaxConnectionsError, as redis-py's default pool does past its 100.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_CONNECTIONS,
        timeout=max(10.0, 4 * timeout),
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    client: Redis = Redis.from_pool(pool)
    deadline = time.monotonic() + config.memory.startup_wait_s
    delay = 0.25
    while True:
        try:
            await client.ping()
            return client, embedded
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
            if time.monotonic() + delay > deadline:
                await client.aclose()
                if embedded is not None:
                    embedded.close()
                raise RedisUnavailableError(
                    f"Redis at {redacted_url(url)} did not answer within {config.memory.startup_wait_s:g} s "
                    f"({type(error).__name__})"
                ) from None
            progress(f"waiting for Redis at {redacted_url(url)}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def redacted_url(url: str) -> str:
    """A Redis URL safe for logs: no password, in the address (`user:pass@`) or the query (`?password=`,
    which redis-py also reads)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}")
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        hidden = [(k, "***" if "password" in k.lower() else v) for k, v in pairs]
        parts = parts._replace(query=urlencode(hidden, safe="*"))
    return urlunsplit(parts)


def segment_adapters(config: FileConfig) -> tuple[tuple[str, str], ...]:
    """The local model's segment adapters, (segment name, folder); a missing one is a start-up error."""
    found = []
    for segment in config.segments:
        if segment.adapter is None:
            continue
        if not (segment.adapter / "adapter_config.json").is_file():
            raise SettingsError(f"segments.{segment.name}.adapter: no LoRA adapter at {segment.adapter}")
        found.append((segment.name, str(segment.adapter)))
    return tuple(found)


def segments_of(config: FileConfig) -> Segments | None:
    """Which adapter answers whom: a segment's adapter is loaded under its name (local model) or served
    under `model` (remote)."""
    if not config.segments:
        return None
    remote = config.generation.backend == "remote"
    if not remote:
        segment_adapters(config)  # a missing adapter is an error in every mode, not only when it is used
    for segment in config.segments:
        if remote and segment.adapter is not None and segment.model is None:
            raise SettingsError(f"segments.{segment.name}: with backend remote, `model` names the served adapter")
    return Segments(
        [
            Segment(
                s.name,
                adapter=(s.model if remote else (s.name if s.adapter else None)),
                tone=s.tone,
                channels=tuple(s.channels),
                roles=tuple(s.roles),
                share=s.percent,
            )
            for s in config.segments
        ]
    )


async def load_generator(
    settings: Settings, config: FileConfig, progress: Progress, reader_adapter: Path | None = None
) -> LocalGenerator | RemoteGenerator:
    remote = config.generation.remote
    if config.generation.backend == "remote" and remote is not None:
        key = os.environ.get(remote.api_key_env, "") if remote.api_key_env else None
        if remote.api_key_env and not key:
            raise SettingsError(f"{remote.api_key_env}: not set (the YAML's generation.remote.api_key_env)")
        generator = RemoteGenerator(RemoteSettings(remote.base_url, remote.model, key or None, remote.timeout_s))
        progress(f"checking the model server {remote.base_url} for {remote.model}")
        served = tuple(s.model for s in config.segments if s.model)
        try:
            await generator.check(served)
        except GenerationUnavailable as error:
            await generator.aclose()
            raise SettingsError(f"generation.remote: {error}") from None
        return generator
    reading = ((READER_ADAPTER, str(reader_adapter)),) if reader_adapter else ()
    options = LoadOptions(
        adapters=segment_adapters(config) + reading,
        device=settings.device,
        quantize=settings.quantize,
        adapter=str(settings.adapter) if settings.adapter else None,
        threads=settings.threads,
        prompt_lookup=config.generation.prompt_lookup,
        max_batch=config.generation.max_batch,
        max_waiting=config.generation.max_waiting,
    )
    try:
        options.check(pick_device(settings.device))  # before the model is prepared and loaded
    except ValueError as error:
        raise SettingsError(str(error)) from None
    spec = CATALOG.get(settings.model)
    if spec is not None and not is_prepared(spec, settings.model_cache):
        progress(f"preparing the model {settings.model} (first run only, about a minute)")
    progress(f"loading the model {settings.model}")
    resolved = await asyncio.to_thread(resolve, settings.model, settings.model_cache)
    return await asyncio.to_thread(LocalGenerator.load, resolved.source, resolved.label, options)


# buttons under an order notice; each carries the order number, so a click acts on that order
NOTICE_OFFERS = {
    kind: (("Track order", "track_order"), ("Request refund", "refund_order"))
    for kind in ("shipped", "delayed", "out_for_delivery", "delivered")
}


def redacting(redactor: Redactor | None) -> Callable[[str], Awaitable[str]] | None:
    if redactor is None:
        return None

    async def redact(text: str) -> str:
        return (await asyncio.to_thread(redactor.redact, text))[0]

    return redact


def notifiers_for(
    settings: Settings, config: FileConfig, redis: Redis, closers: list[Callable[[], Awaitable[None]]]
) -> dict[str, Notifier]:
    """How notices and agents' replies reach a customer, by channel, from any process: the widget's
    conversation log (announced to the web processes), the mobile job queue (its worker keeps and pushes),
    the REST back end's callback (signed with the webhook secret). Slack joins once built."""
    prefix = config.memory.prefix
    frames = RedisFrameLog(redis, prefix, keep=config.web.keep_frames, ttl_s=config.web.history_ttl_s)
    notifiers: dict[str, Notifier] = {"web": WebNotifier(frames)}
    if config.mobile.apps:
        queue = RedisJobQueue(redis, f"{prefix}:mobile:jobs", reclaim_after_s=config.slack.job_reclaim_s)
        notifiers["mobile"] = MobileNotifier(queue)
    url = config.notices.callback_url
    if url is None:
        return notifiers
    if settings.webhook_secret is None:
        raise SettingsError("notices.callback_url: needs SWITCHBOARD_WEBHOOK_SECRET, which signs the notices")
    host = urlsplit(url).hostname or ""
    client = FencedClient(HostRules(frozenset({host}), config.notices.callback_allow_private))
    closers.append(client.close)
    try:
        notifiers["rest"] = CallbackNotifier(url, settings.webhook_secret.get_secret_value(), client)
    except ToolError as error:
        raise SettingsError(f"notices.callback_url: {error.detail}") from None
    return notifiers


def agent_replies(
    redis: Redis,
    config: FileConfig,
    escalations: RedisEscalationStore,
    notifiers: dict[str, Notifier],
    memory: RedisMemoryStore,
    redactor: Redactor | None,
) -> AgentReplies:
    ledger = RedisIngressLedger(redis, prefix=f"{config.memory.prefix}:agent-replies", lease_s=60, keep_s=7 * 86400)
    return AgentReplies(escalations, notifiers, ledger, memory, redact=redacting(redactor))


@dataclass
class Runtime:
    settings: Settings
    config: FileConfig
    redis: Redis
    embedded_redis: EmbeddedRedis | None
    embedder: SentenceEmbedder
    retriever: LiveIndex
    watcher: IndexWatcher
    generator: LocalGenerator | RemoteGenerator | None  # loaded only when generation.mode is compose
    memory: RedisMemoryStore
    escalations: RedisEscalationStore
    retries: BackgroundRetries
    engine: Engine
    bus: LocalReplyBus
    dispatcher: Dispatcher
    toolkit: ToolKit
    audit: RedisAuditLog
    notices: Notices
    notifiers: dict[str, Notifier]  # by channel; Slack adds itself once built
    agent_replies: AgentReplies  # an agent's reply to a handed-over customer, through the notifiers
    watching: asyncio.Task[None] | None = None
    redactor: Redactor | None = None  # for text that reaches a store without passing the engine

    @classmethod
    async def start(cls, settings: Settings, config: FileConfig, progress: Progress = _quiet) -> Runtime:
        settings.home.mkdir(parents=True, exist_ok=True)
        for leftover in demo_leftovers(config):
            log.warning("%s", leftover)
        redis, embedded = await open_redis(settings, config, progress)
        try:
            toolkit = await build_tools(config)
            try:
                return await cls._assemble(settings, config, redis, embedded, toolkit, progress)
            except BaseException:
                await toolkit.close()
                raise
        except BaseException:
            await redis.aclose()
            if embedded is not None:
                embedded.close()
            raise

    @classmethod
    async def _assemble(
        cls,
        settings: Settings,
        config: FileConfig,
        redis: Redis,
        embedded: EmbeddedRedis | None,
        toolkit: ToolKit,
        progress: Progress,
    ) -> Runtime:
        progress("loading the embedding model")
        embedder = await asyncio.to_thread(SentenceEmbedder, config.retrieval.embedder)
        progress("loading the personal-data recognizers")
        redactor = await asyncio.to_thread(load_redactor, config)
        progress("checking the knowledge index")
        folder = index_folder(settings, config)
        device = config.retrieval.faiss_device
        built, rebuilt = await knowledge_index(config, embedder, folder, chunking(config, redactor), progress)
        if rebuilt:
            progress(f"indexed {len(built.passages)} passages")
        built.lexical_weight = config.retrieval.lexical_weight
        if redactor is not None:
            products = [name for p in config.catalogue for name in (p.name, *p.aliases)]
            await asyncio.to_thread(redactor.known_terms, [passage.text for passage in built.passages], products)
        retriever = LiveIndex(built)
        knowledge_language = await asyncio.to_thread(dominant_language, [p.text for p in built.passages])
        translating = config.retrieval.translate and knowledge_language == "en"  # it translates into English
        watcher = IndexWatcher(retriever, config.knowledge.paths, embedder, folder, chunking(config, redactor), device)
        judge_model = await asyncio.to_thread(load_judge_model, config)
        reader = reader_paths(settings, config)
        combiner = JudgeModel.load(reader[1], READER_FEATURES) if reader else None
        guards = config.safety.guards
        injection = InjectionDetector()
        toxicity = (
            await asyncio.to_thread(ToxicityDetector, ToxicitySettings(config.safety.profanity_threshold))
            if guards
            else None
        )
        if guards:
            await asyncio.to_thread(flag_injected, built.passages, injection)
        output_guard = GuardOutput(toxicity) if toxicity is not None else None
        guard_detectors = await asyncio.to_thread(load_guard_detectors, config, embedder) if guards else None
        wants_model = config.generation.mode == "compose" or reader is not None or translating
        generator = (
            await load_generator(settings, config, progress, reader[0] if reader else None) if wants_model else None
        )
        memory = RedisMemoryStore(
            redis,
            prefix=config.memory.prefix,
            max_entries=config.memory.max_entries,
            ttl_seconds=int(config.memory.ttl_days * 86400),
        )
        escalations = RedisEscalationStore(
            redis, prefix=config.memory.prefix, ttl_seconds=int(config.memory.escalation_ttl_days * 86400)
        )
        retries = BackgroundRetries()
        prefix = config.memory.prefix
        signer = await consent_signer(settings, redis, prefix)
        notifiers = notifiers_for(settings, config, redis, toolkit.closers)
        audit = RedisAuditLog(redis, prefix, config.actions.audit_days)
        addresses = RedisAddressBook(redis, prefix, config.memory.ttl_days)
        act = Act(
            toolkit.tools,
            Consent(signer, RedisProposals(redis, prefix), config.actions.consent_ttl_s),
            audit,
            RedisPendingChoices(redis, prefix),
            screen=(lambda text: injection.check(text) is None) if guards else None,
            vaulted=redactor is not None,
            keep_intents=frozenset(n for n, spec in config.intents.items() if spec.escalate or spec.response),
            proposer=generator if config.generation.tool_calls and isinstance(generator, LocalGenerator) else None,
            company=config.company.name,
        )
        intents = intent_specs(config)
        person = await asyncio.to_thread(load_person_detector, config)
        if person is not None and person.dimension != embedder.dimension:  # refused here, not on every message
            raise SettingsError(
                f"policy.person_detector: fitted on {person.dimension}-dimensional embeddings; "
                f"{config.retrieval.embedder} gives {embedder.dimension}"
            )
        intent_index = await asyncio.to_thread(IntentIndex, embedder, intents, person)
        policy = policy_config(config, combiner or judge_model)
        stack = (
            ReaderStack(
                Reader(generator, READER_ADAPTER),
                combiner,
                judge_model,
                (policy.suggest_threshold, policy.answer_threshold),
            )
            if combiner is not None and isinstance(generator, LocalGenerator)
            else None
        )
        by_name = {spec.name: spec for spec in intents}
        generation = config.generation
        idle_s = config.memory.idle_minutes * 60
        # what an agent reads of how the customer got to a hand-over the turn itself did not read (a guard's)
        earlier = EarlierReading(memory, config.memory.recall_entries, idle_s)
        stages: list[Stage] = [
            SanitizeInput(),
            *([RedactPII(redactor)] if redactor is not None else []),
            *(
                [
                    GuardInput(
                        injection,
                        toxicity,
                        RedisSafetyCounter(redis, config.memory.prefix),
                        config.company.name,
                        guard_detectors,
                    )
                ]
                if toxicity is not None
                else []
            ),
            ExtractEntities(EntityExtractor([Product(p.name, tuple(p.aliases)) for p in config.catalogue])),
            Understand(embedder, intent_index, policy.intent_threshold),
            Recall(memory, config.memory.recall_entries, idle_s=idle_s),
            # a person holds the conversation: the message is theirs
            PersonHolds(escalations, notifiers, frozenset(config.safety.pii.agents_see)),
            *([act] if toolkit.tools.tools else []),
            *([TranslateQuery(generator, by_name)] if translating and generator is not None else []),
            Retrieve(retriever, embedder, config.retrieval.top_k, follow_up_below=policy.follow_up_below),
            *([QuarantinePassages(injection)] if guards else []),
            Weigh(
                retriever,
                FeatureJudge(embedder, judge_model),
                by_name,
                WeighConfig(max_passages=config.retrieval.top_k, min_relevance=policy.min_relevance),
                stack,
                knowledge_language=knowledge_language,
            ),
            Generate(
                generator,
                GenerationParams(
                    max_new_tokens=generation.max_new_tokens,
                    temperature=generation.temperature,
                    top_p=generation.top_p,
                    repetition_penalty=generation.repetition_penalty,
                    max_prompt_tokens=generation.max_prompt_tokens,
                ),
                policy,
                by_name,
                Persona(company=config.company.name, assistant_name=config.company.assistant_name),
                mode=generation.mode,
                screen=output_guard.screen if output_guard is not None else None,
                segments=segments_of(config),
            ),
            Decide(policy, by_name),
            *([output_guard] if output_guard is not None else []),
            HandOver(escalations, retries, earlier),
            Remember(memory, retries),
            NoteAddress(addresses),
            *([RestorePII()] if redactor is not None else []),  # after history and hand-over kept placeholders
        ]
        engine = Engine(
            stages,
            deadline_s=config.server.reply_deadline_s,
            on_failure=FailureFollowUp(memory, escalations, retries, redactor, earlier),
            reply_language=config.company.reply_language,
            reachable=notifiers,  # a live view: Slack joins once built
        )
        bus = LocalReplyBus()
        return cls(
            settings=settings,
            config=config,
            redis=redis,
            embedded_redis=embedded,
            embedder=embedder,
            retriever=retriever,
            watcher=watcher,
            generator=generator,
            memory=memory,
            escalations=escalations,
            retries=retries,
            engine=engine,
            bus=bus,
            dispatcher=Dispatcher(engine, bus, max_pending=config.server.max_pending),
            redactor=redactor,
            toolkit=toolkit,
            audit=audit,
            notices=Notices(
                addresses,
                notifiers,
                RedisIngressLedger(redis, prefix=f"{prefix}:notices", lease_s=60, keep_s=7 * 86400),
                memory,
                NOTICE_OFFERS if toolkit.tools.tools else {},
                redact=redacting(redactor),
            ),
            notifiers=notifiers,
            agent_replies=agent_replies(redis, config, escalations, notifiers, memory, redactor),
        )

    def watch_knowledge(self) -> None:
        """Switch to a new index when `switchboard ingest` runs or a knowledge file changes (servers)."""
        interval = self.config.knowledge.watch_interval_s
        if interval > 0 and self.watching is None:
            self.watching = asyncio.create_task(self.watcher.run(interval), name="knowledge-watcher")

    async def readiness(self) -> dict[str, bool]:
        return {
            "model": self.generator is None or self.generator.ready,
            "index": len(self.retriever.passages) > 0,
            "redis": await self.memory.ping(),
        }

    async def close(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
            await asyncio.gather(self.watching, return_exceptions=True)
        await self.dispatcher.drain()
        try:
            async with asyncio.timeout(10):
                await self.retries.drain()
        except TimeoutError:
            log.error("%d writes were still being retried at shutdown", self.retries.pending)
        await self.toolkit.close()
        await self.redis.aclose()
        if isinstance(self.generator, RemoteGenerator):
            await self.generator.aclose()
        elif self.generator is not None:
            await asyncio.to_thread(self.generator.close)
        if self.embedded_redis is not None:
            await asyncio.to_thread(self.embedded_redis.close)
