"""`switchboard eval answers`: answer quality on a knowledge base and labelled customer messages.

Every question goes through the real engine (the Dispatcher, as a Slack or web message would), against a
throwaway index of the knowledge base, one fresh conversation per question. A QA line is
`{"id"?, "question", "kind": "in_scope" | "out_of_scope" | "human_request", "source"?, "answer_facts"?}`.

Grading: an in-scope question is *right and cited* when the reply is not handed over, holds every answer
fact (case-insensitive) and cites the source page; out-of-scope questions and requests for a person must
be handed over (`escalated`).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.settings import FileConfig, Settings
from engine.types import ConversationRef, EventKind, Message, Reply
from retrieval.documents import find_documents, parse_document

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.runtime import Runtime

KINDS = ("in_scope", "out_of_scope", "human_request")
CHANNEL = "eval"


class EvalError(ValueError):
    """A QA file or knowledge base cannot be evaluated; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class QAItem:
    id: str
    question: str
    kind: str
    source: str = ""
    answer_facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    item: QAItem
    reply: Reply
    seconds: float
    first_token_seconds: float | None
    source_url: str = ""

    @property
    def right(self) -> bool:
        text = normalise(self.reply.text)
        return bool(self.item.answer_facts) and all(normalise(f) in text for f in self.item.answer_facts)

    @property
    def cited(self) -> bool:
        return bool(self.source_url) and any(_same_page(self.source_url, url) for url in self.reply.sources)

    @property
    def ok(self) -> bool:
        """What this kind of message should get: a right, cited answer, or a hand-over."""
        if self.item.kind == "in_scope":
            return self.right and self.cited and not self.reply.escalated
        return self.reply.escalated

    def miss_record(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "kind": self.item.kind,
            "question": self.item.question,
            "answer": self.reply.text,
            "expected_facts": list(self.item.answer_facts),
            "expected_source": self.source_url,
            "sources": self.reply.sources,
            "right": self.right,
            "cited": self.cited,
            "escalated": self.reply.escalated,
            "confidence": round(self.reply.confidence, 3),
            "reason": self.reply.reason,
            "intent": self.reply.intent,
        } | ({"generation": self.reply.token_stats.to_json()} if self.reply.token_stats else {})


@dataclass(frozen=True, slots=True)
class Summary:
    counts: dict[str, int]
    rates: dict[str, float]
    confidently_wrong: float  # answerable, answered, not right: the failure users notice
    p50_seconds: float
    p95_seconds: float
    first_token_p50_seconds: float | None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "answerable_right_and_cited": self.rates.get("in_scope"),
            "unanswerable_escalated": self.rates.get("out_of_scope"),
            "human_request_escalated": self.rates.get("human_request"),
            "answerable_confidently_wrong": self.confidently_wrong,
            "latency_p50_s": self.p50_seconds,
            "latency_p95_s": self.p95_seconds,
            "first_token_p50_s": self.first_token_p50_seconds,
        } | self.extras


def normalise(text: str) -> str:
    """Case, dashes, quotes, spacing and markdown emphasis do not decide whether a fact is present."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = text.replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"[*`]", "", text)
    return re.sub(r"\s+", " ", text)


def _same_page(expected: str, cited: str) -> bool:
    return expected.rstrip("/") == cited.rstrip("/")


def json_lines(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, "file:line" for messages, object) for each non-blank line of a JSON-lines file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise EvalError(f"{path}: cannot read ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvalError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise EvalError(f"{where}: each line must be a JSON object")
        yield number, where, data


def yaml_plan(path: Path, what: str) -> dict[str, Any]:
    """A YAML plan file's mapping (its contents checked by the caller)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise EvalError(f"{path}: cannot read {what} ({error})") from None
    return data if isinstance(data, dict) else {}


def load_qa(path: Path) -> list[QAItem]:
    items: list[QAItem] = []
    for number, where, data in json_lines(path):
        question, kind = data.get("question"), data.get("kind")
        if not isinstance(question, str) or not question.strip():
            raise EvalError(f"{where}: 'question' must be a non-empty string")
        if kind not in KINDS:
            raise EvalError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
        facts = data.get("answer_facts") or []
        source = data.get("source") or ""
        if not isinstance(facts, list) or not all(isinstance(f, str) and f.strip() for f in facts):
            raise EvalError(f"{where}: 'answer_facts' must be a list of non-empty strings")
        if not isinstance(source, str):
            raise EvalError(f"{where}: 'source' must be a string")
        if kind == "in_scope" and not (facts and source):
            raise EvalError(f"{where}: an in_scope question needs 'source' and 'answer_facts'")
        items.append(QAItem(str(data.get("id") or f"line-{number}"), question, kind, source, tuple(facts)))
    if not items:
        raise EvalError(f"{path}: no questions")
    return items


def page_urls(kb: Path) -> dict[str, str]:
    """The url of each page, by file name and by path relative to the knowledge folder."""
    urls: dict[str, str] = {}
    for file in find_documents([kb]):
        url = parse_document(file).url
        urls[file.name] = url
        if kb.is_dir():
            urls[str(file.relative_to(kb.resolve()))] = url
    return urls


def source_url(item: QAItem, urls: dict[str, str]) -> str:
    if not item.source:
        return ""
    if item.source in urls:
        return urls[item.source]
    if item.source.startswith(("http://", "https://")):
        return item.source
    raise EvalError(f"question {item.id}: source '{item.source}' is neither a page of the knowledge base nor a URL")


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 3)


def summarize(outcomes: Sequence[Outcome]) -> Summary:
    counts = {kind: sum(1 for o in outcomes if o.item.kind == kind) for kind in KINDS}
    rates = {
        kind: round(sum(o.ok for o in outcomes if o.item.kind == kind) / counts[kind], 3)
        for kind in KINDS
        if counts[kind]
    }
    answerable = [o for o in outcomes if o.item.kind == "in_scope"]
    wrong = sum(1 for o in answerable if not o.reply.escalated and not o.right)
    seconds = [o.seconds for o in outcomes]
    firsts = [o.first_token_seconds for o in outcomes if o.first_token_seconds is not None]
    return Summary(
        counts=counts,
        rates=rates,
        confidently_wrong=round(wrong / len(answerable), 3) if answerable else 0.0,
        p50_seconds=_percentile(seconds, 0.5),
        p95_seconds=_percentile(seconds, 0.95),
        first_token_p50_seconds=_percentile(firsts, 0.5) if firsts else None,
        extras={
            "answerable_right": round(sum(o.right for o in answerable) / len(answerable), 3) if answerable else None,
            "answerable_right_and_cited_with_handover": (
                round(sum(o.right and o.cited for o in answerable) / len(answerable), 3) if answerable else None
            ),
            "answerable_escalated": (
                round(sum(o.reply.escalated for o in answerable) / len(answerable), 3) if answerable else None
            ),
        },
    )


def format_summary(summary: Summary, label: str) -> str:
    def rate(kind: str) -> str:
        value = summary.rates.get(kind)
        return "-" if value is None else f"{value * 100:.1f} % of {summary.counts[kind]}"

    first = summary.first_token_p50_seconds
    lines = [
        f"{label}",
        f"  answerable: right and cited    {rate('in_scope')}",
        f"  unanswerable: escalated        {rate('out_of_scope')}",
        f"  asks for a person: escalated   {rate('human_request')}",
        f"  answerable: confidently wrong  {summary.confidently_wrong * 100:.1f} %",
        f"  answerable: right and cited, hand-overs that show it included  "
        f"{(summary.extras.get('answerable_right_and_cited_with_handover') or 0) * 100:.1f} %",
        f"  latency p50 / p95              {summary.p50_seconds:.2f} s / {summary.p95_seconds:.2f} s"
        + (f" (first token p50 {first:.2f} s)" if first is not None else ""),
    ]
    return "\n".join(lines)


def eval_config(config: FileConfig, kb: Path, prefix: str) -> FileConfig:
    """The user's configuration, with the knowledge base under test and memory keys of its own."""
    return config.model_copy(
        update={
            "knowledge": config.knowledge.model_copy(update={"paths": [kb]}),
            "memory": config.memory.model_copy(update={"prefix": prefix}),
        }
    )


async def ask(runtime: Runtime, item: QAItem) -> tuple[Reply, float, float | None]:
    conversation = ConversationRef(CHANNEL, f"eval-{uuid.uuid4().hex[:12]}", f"eval-{item.id}")
    message = Message(conversation=conversation, text=item.question, message_id=uuid.uuid4().hex)
    started = time.perf_counter()
    first: float | None = None
    async for event in runtime.dispatcher.ask(message):
        if event.kind is EventKind.TOKEN and first is None:
            first = time.perf_counter() - started
        if event.kind is EventKind.FINAL and event.reply is not None:
            return event.reply, time.perf_counter() - started, first
    raise RuntimeError("the engine ended without a final reply")


async def _remove_keys(redis: Redis, prefix: str) -> None:
    async for key in redis.scan_iter(match=f"{prefix}:*", count=500):
        await redis.delete(key)


async def evaluate(
    settings: Settings,
    config: FileConfig,
    kb: Path,
    items: Sequence[QAItem],
    progress: Callable[[str], None],
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Ask every question through a runtime built over `kb` in a throwaway home (models stay cached)."""
    from bot.runtime import Runtime

    urls = page_urls(kb)
    expected = {item.id: source_url(item, urls) for item in items}
    prefix = f"sbeval-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="switchboard-eval-") as home:
        isolated = settings.model_copy(update={"home": Path(home), "models_dir": settings.model_cache})
        runtime = await Runtime.start(isolated, eval_config(config, kb, prefix), progress)
        outcomes: list[Outcome] = []
        try:
            for item in items:
                reply, seconds, first = await ask(runtime, item)
                outcome = Outcome(item, reply, seconds, first, expected[item.id])
                outcomes.append(outcome)
                on_outcome(outcome)
        finally:
            await _remove_keys(runtime.redis, prefix)
            await runtime.close()
    return outcomes
