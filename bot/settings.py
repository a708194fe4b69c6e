"""Settings, read once: environment variables for secrets and machine choices, YAML for structure.

Every problem becomes a SettingsError whose message is one line naming the key and what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.http import is_private
from channels.addresses import is_loopback, networks
from engine.language import LANGUAGES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
LOCAL_CONFIG = "switchboard.yaml"


class SettingsError(ValueError):
    """Bad configuration: one line, naming the key and the problem."""


class Settings(BaseSettings):
    """Environment variables (SWITCHBOARD_*, plus REDIS_URL)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path("~/.cache/switchboard"))
    models_dir: Path | None = None  # converted model cache; default: {home}/models
    config: Path | None = None
    redis_url: SecretStr | None = Field(default=None, validation_alias="REDIS_URL")  # may hold a password
    model: str = "qwen2.5-0.5b"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # int8: dynamic, ~3x faster end to end on CPU, fewer right answers; int8-rowwise: per-token scales,
    # ~2.5x faster with fp32's answers (x86 with AVX-512 VNNI); docs/models.md
    quantize: Literal["int8", "int8-rowwise", "none"] = "none"
    adapter: Path | None = None
    threads: int = Field(default=0, ge=0, le=256)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    api_token: SecretStr | None = None  # required by `serve` on any address but loopback
    # the support team's API (/api/escalations): its own token, so a back end's cannot write to customers as
    # the support team; unset: answered only to requests from this machine
    agent_token: SecretStr | None = None
    # Slack (channels/slack): both of the first two switch it on; SLACK_API_URL points at another Web API
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    # multi-workspace OAuth installs (instead of SLACK_BOT_TOKEN): each workspace gets its own token
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    # signs Approve / Cancel buttons; unset: a random key kept in Redis (shared by every process using it)
    action_secret: SecretStr | None = None
    # verifies POST /webhooks/orders and signs notices sent to notices.callback_url; unset: webhooks off
    webhook_secret: SecretStr | None = None
    # signs the web widget's sessions; unset: a random key kept in Redis (shared by every process using it)
    session_secret: SecretStr | None = None

    @field_validator("api_token", "agent_token", "action_secret", "webhook_secret", "session_secret", mode="after")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("home", "models_dir", mode="after")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def model_cache(self) -> Path:
        return self.models_dir or self.home / "models"

    @field_validator("redis_url", mode="after")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompanyConfig(_Strict):
    name: str = Field(min_length=1, max_length=100)
    assistant_name: str = Field(min_length=1, max_length=100)
    # the language of fixed replies (hand-overs, refusals, "busy"): auto = the customer's, when it can be told
    reply_language: str = "auto"

    @field_validator("reply_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value != "auto" and value not in LANGUAGES:
            raise ValueError(f"must be auto or one of {', '.join(LANGUAGES)}")
        return value


class KnowledgeConfig(_Strict):
    paths: list[Path] = Field(min_length=1)
    max_words: int = Field(ge=20, le=2000)
    overlap: int = Field(ge=0, le=500)
    watch_interval_s: float = Field(ge=0, le=3600)

    @model_validator(mode="after")
    def _overlap_smaller(self) -> KnowledgeConfig:
        if self.overlap >= self.max_words:
            raise ValueError("overlap must be smaller than max_words")
        return self


class RetrievalConfig(_Strict):
    embedder: str = Field(min_length=1)
    top_k: int = Field(ge=1, le=50)
    lexical_weight: float = Field(ge=0.0, le=10.0)
    faiss_device: Literal["auto", "cpu", "gpu"]
    translate: bool = False  # a message in another language is translated into English by the model first


class RemoteGenerationConfig(_Strict):
    """An OpenAI-compatible server (vLLM with --enable-lora: `model` names the adapter). docs/models.md"""

    base_url: str = Field(pattern=r"^https?://[^\s]+$")
    model: str = Field(min_length=1, max_length=200)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,100}$")
    timeout_s: float = Field(default=120.0, gt=0, le=3600)


class GenerationConfig(_Strict):
    mode: Literal["extract", "compose"]
    backend: Literal["local", "remote"] = "local"  # compose mode: the local model, or `remote`'s server
    prompt_lookup: int = Field(default=10, ge=0, le=64)  # local model: prompt-lookup decoding, lossless; 0: off
    max_batch: int = Field(default=8, ge=1, le=256)  # local model: answers sharing one decoding step
    max_waiting: int = Field(default=32, ge=0, le=10_000)  # local model: answers waiting for a slot; then busy
    remote: RemoteGenerationConfig | None = None
    max_new_tokens: int = Field(ge=1, le=4096)
    temperature: float = Field(ge=0.0, le=2.0)
    top_p: float = Field(gt=0.0, le=1.0)
    repetition_penalty: float = Field(ge=1.0, le=2.0)
    max_prompt_tokens: int = Field(ge=64, le=32768)
    tool_calls: bool = False  # compose mode: a model asked for a tool call when code chose none (validated)

    @model_validator(mode="after")
    def _tool_calls_need_a_model(self) -> GenerationConfig:
        if self.tool_calls and self.mode != "compose":
            raise ValueError("tool_calls needs mode: compose (the model that proposes calls is loaded then)")
        if self.backend == "remote" and self.remote is None:
            raise ValueError("backend: remote needs a `remote:` section with base_url and model")
        if self.tool_calls and self.backend == "remote":
            raise ValueError("tool_calls needs backend: local (calls are proposed through the local chat template)")
        return self


class PolicySettings(_Strict):
    judge: Path | None = None  # an evidence judge from `switchboard eval calibrate`; None: the shipped one
    answer_threshold: float | None = Field(default=None, ge=0.0, le=1.0)  # None: the judge's calibrated one
    suggest_threshold: float | None = Field(default=None, ge=0.0, le=1.0)  # None: the judge's; 1 turns it off
    # instead of answer_threshold: the share of unanswerable messages to hand over (the judge's calibrated curve)
    handover_target: float | None = Field(default=None, ge=0.5, lt=1.0)
    # the reader (engine/reader.py, docs/quality.md): a LoRA adapter for the local model and its combiner
    reader: bool = False
    # both None: the pair shipped in engine/data (for qwen2.5-0.5b); else `switchboard finetune` on
    # `switchboard eval training-set`, and `switchboard eval calibrate-reader`
    reader_adapter: Path | None = None
    reader_combiner: Path | None = None
    # asks for a person (engine/detector.py): null, the detector shipped for the minilm embedder; "off",
    # the hand-over patterns and examples alone; or a file from `switchboard eval person-detector`
    person_detector: Literal["off"] | Path | None = None
    person_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)  # None: the detector's own

    @field_validator("person_detector", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        if value is True:  # YAML reads a bare `on` or `yes` as true
            raise ValueError("null for the shipped detector, off, or the path of a detector file")
        return "off" if value is False else value  # and a bare `off` or `no` as false

    min_relevance: float = Field(ge=-1.0, le=1.0)
    follow_up_below: float = Field(ge=-1.0, le=1.0)
    second_within: float = Field(ge=0.0, le=1.0)
    max_sentences: int = Field(ge=1, le=10)
    max_sources: int = Field(ge=1, le=20)
    intent_threshold: float = Field(ge=-1.0, le=1.0)

    @model_validator(mode="after")
    def _one_threshold(self) -> PolicySettings:
        if self.answer_threshold is not None and self.handover_target is not None:
            raise ValueError("answer_threshold or handover_target, not both")
        return self


class MemoryConfig(_Strict):
    prefix: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    recall_entries: int = Field(ge=0, le=200)
    max_entries: int = Field(ge=2, le=10000)
    ttl_days: float = Field(gt=0, le=3650)
    escalation_ttl_days: float = Field(gt=0, le=3650)
    idle_minutes: float = Field(gt=0, le=525_600)
    redis_timeout_s: float = Field(gt=0, le=60)
    startup_wait_s: float = Field(ge=0, le=3600)


class ServerConfig(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(ge=0, le=65535)
    max_text_chars: int = Field(ge=1, le=100_000)
    reply_deadline_s: float = Field(gt=0, le=3600)
    max_pending: int = Field(ge=1, le=100_000)
    max_body_bytes: int = Field(ge=1024, le=10_000_000)
    # reverse proxies in front (addresses or networks): per-address limits then count the client behind them
    trusted_proxies: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        networks(value)
        return value


class ActionConfig(_Strict):
    label: str = Field(min_length=1, max_length=75)  # Slack's button text limit
    action: str = Field(min_length=1, max_length=255, pattern=r"^[a-z0-9_.-]+$")


CueCategory = Literal["order", "status", "shipped", "refund", "own", "ask"]  # engine/cues.py CATEGORIES


class IntentConfig(_Strict):
    examples: list[str] = Field(default_factory=list)  # at least one, unless `courtesy` alone names the intent
    actions: list[ActionConfig] = Field(default_factory=list)
    escalate: bool = False
    # one text, or one per language ({en: "Hello!", es: "¡Hola!"}): the turn's language chooses, else English
    response: str | dict[str, str] = ""
    # also any message that is only that, in 18 languages ("acknowledgement": "ok", "got it", "vale", "👍")
    courtesy: Literal["", "greeting", "thanks", "acknowledgement"] = ""
    patterns: list[str] = Field(default_factory=list, max_length=200)
    # in another language than English: a message with words of every category of one group names it
    cues: list[list[CueCategory]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _named_somehow(self) -> IntentConfig:
        if not self.examples and not self.courtesy:
            raise ValueError("needs at least one example (an intent with none is named only by `courtesy`)")
        return self

    @field_validator("response", mode="after")
    @classmethod
    def _languages(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(LANGUAGES))
            if unknown:
                raise ValueError(f"response languages {unknown} are not among {', '.join(LANGUAGES)}")
            if not value or not all(text.strip() for text in value.values()):
                raise ValueError("a response per language needs at least one language, and text for each")
        return value

    def responses(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The reply for a language it has no text in (its English one, else its first), and all its texts."""
        if isinstance(self.response, str):
            return self.response, ()
        return self.response.get("en") or next(iter(self.response.values())), tuple(self.response.items())

    @field_validator("patterns", mode="after")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({error})") from None
        return value


class SlackConfig(_Strict):
    ignore_bots: bool  # other bots' messages get no answer (the bot's own never do)
    update_interval_s: float = Field(ge=0.2, le=10)  # streamed answers: at most one chat.update this often
    # shown in the thread until the answer streams; None: "Searching the help centre…" in the customer's language
    status_text: str | None = Field(default=None, min_length=1, max_length=200)
    agents_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$")  # where hand-overs are posted
    delivery_backoff_s: float = Field(ge=0.05, le=60)  # a final reply Slack keeps refusing: retried 5 times
    streaming: bool  # Slack's streaming methods (chat.startStream…) instead of editing a posted message
    agents_team: str | None = Field(default=None, pattern=r"^[TE][A-Z0-9]{2,}$")  # OAuth: the agents' workspace
    job_concurrency: int = Field(ge=1, le=1000)  # Slack jobs one process runs at once (answers wait in the queue)
    job_reclaim_s: float = Field(ge=5, le=3600)  # a job idle this long (its worker died) is handed out again


class PiiPatternConfig(_Strict):
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,40}$")  # the placeholder's name: <ORDER_ID_1>
    regex: str = Field(min_length=1, max_length=500)
    score: float = Field(gt=0, le=1)  # below pii.score_threshold it needs a context word nearby
    context: list[str] = Field(default_factory=list)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value


class PiiConfig(_Strict):
    enabled: bool
    entities: list[str]  # presidio entity types
    score_threshold: float = Field(ge=0, le=1)
    patterns: list[PiiPatternConfig]
    addresses: bool  # street addresses (a pattern; the small spaCy model does not tag them)
    secrets: bool = True  # passwords, one-time codes, PINs and API tokens people paste
    allow: list[str]  # the company's own published contacts, never redacted
    # what the agent holding a hand-over reads as the customer wrote it (contact details, order numbers); every
    # other kind (cards, bank details, national ids, secrets) stays a placeholder for them too
    agents_see: list[str] = Field(default_factory=list)


class SafetyConfig(_Strict):
    pii: PiiConfig
    guards: bool  # prompt injection, abuse, threats, self-harm on input; unsafe text on output
    detectors: bool = True  # with the guards: the learned self-harm, threat and injection detectors too
    profanity_threshold: float = Field(gt=0, le=1)


class ProductConfig(_Strict):
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list)  # how customers write it ("aeroblend", "the 500")


_ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,100}$"


def _private_literal(host: str) -> bool:
    """An IP address written out that the order client would refuse as not public (a name is not resolved
    here: the client checks what it resolves to at each request)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return is_private(host)


class OrdersConfig(_Strict):
    base_url: str | None  # "demo": the demo order system, in-process; a URL; None: no order tools
    token_env: str | None = Field(default=None, pattern=_ENV_NAME)  # the variable holding its bearer token
    timeout_s: float = Field(gt=0, le=60)
    number_prefix: str = Field(max_length=10, pattern=r"^[A-Za-z0-9-]*$")  # "BC-": "12345" is "BC-12345"
    refunds: bool  # the refund tool (proposed with Approve / Cancel)
    allow_private: bool  # a base_url on a private or loopback address (the in-process demo always is)

    @field_validator("base_url")
    @classmethod
    def _url_or_demo(cls, value: str | None) -> str | None:
        if value is not None and value != "demo" and not value.startswith(("http://", "https://")):
            raise ValueError("must be 'demo', an http(s) URL, or null")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> OrdersConfig:
        """A loopback or private address that is not allowed would fail every customer's order question:
        said at start-up instead (names are resolved, and checked again, at each request)."""
        if self.base_url in (None, "demo") or self.allow_private:
            return self
        host = (urlsplit(self.base_url).hostname or "").rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost") or _private_literal(host):
            raise ValueError(
                f"base_url: {host} is a loopback or private address; set orders.allow_private: true to use it"
            )
        return self


class BearerAuthConfig(_Strict):
    bearer_env: str = Field(pattern=_ENV_NAME)


class ApiToolSettings(_Strict):
    type: Literal["api"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(pattern=r"^https?://", max_length=2000)
    auth: BearerAuthConfig | None = None
    timeout_s: float = Field(default=5, gt=0, le=60)
    intents: list[str] = Field(min_length=1)
    fields: dict[str, str] = Field(min_length=1)  # fact name → JSONPath in the answer ($.status)
    confirm: bool = False  # changes something: proposed with Approve / Cancel first
    reply: list[str] = Field(default_factory=list)  # lines with {fact} fields; default: the facts listed
    proposal: list[str] = Field(default_factory=list)  # what a confirm tool asks before it runs
    allowed_hosts: list[str] = Field(default_factory=list)  # default: the URL's own host only
    allow_private: bool = False
    max_response_bytes: int = Field(default=262144, ge=256, le=10_000_000)
    title: str = Field(default="", max_length=100)
    link_field: str = ""  # a fact holding a URL to cite
    # the answer's field naming whose it is: it must be the asking user's (else "not found"); null only for
    # tools whose answers are about no one (shipping rates, store hours)
    customer_field: str | None = "$.customer"


class ActionsConfig(_Strict):
    consent_ttl_s: float = Field(ge=10, le=7 * 86400)  # an Approve button works this long
    audit_days: float = Field(gt=0, le=3650)  # audit entries are kept this long


class NoticesConfig(_Strict):
    callback_url: str | None = Field(default=None, pattern=r"^https?://")  # notices for REST users go here
    callback_allow_private: bool = False


class MobileAppConfig(_Strict):
    secret_env: str = Field(pattern=_ENV_NAME)  # the variable holding the app's signing secret (16+ chars)


class FcmConfig(_Strict):
    base_url: str = Field(default="https://fcm.googleapis.com", pattern=r"^https?://")
    project_id: str = Field(min_length=1, max_length=200)
    # the service account's JSON (access tokens minted and refreshed from it), or a ready access token
    # (it expires within the hour: for trying things out); exactly one
    credentials_env: str | None = Field(default=None, pattern=_ENV_NAME)
    token_env: str | None = Field(default=None, pattern=_ENV_NAME)
    allow_private: bool = False  # a gateway (and token endpoint) on a private or loopback address

    @model_validator(mode="after")
    def _one_credential(self) -> FcmConfig:
        if (self.credentials_env is None) == (self.token_env is None):
            raise ValueError("give exactly one of credentials_env (a service account) and token_env")
        return self


class ApnsConfig(_Strict):
    base_url: str = Field(default="https://api.push.apple.com", pattern=r"^https://")
    team_id: str = Field(min_length=1, max_length=20)
    key_id: str = Field(min_length=1, max_length=20)
    key_env: str = Field(pattern=_ENV_NAME)  # the variable holding the .p8 key's PEM text
    topic: str = Field(min_length=1, max_length=200)  # the app's bundle id
    ca_file: Path | None = None  # a private CA for the gateway's certificate (a relay, tests)
    allow_private: bool = False


class MobileConfig(_Strict):
    apps: dict[str, MobileAppConfig]  # none: the mobile channel is off
    fcm: FcmConfig | None = None  # Android pushes; none: replies are only fetched
    apns: ApnsConfig | None = None  # iOS pushes over HTTP/2
    keep_replies: int = Field(ge=1, le=10_000)  # replies kept per conversation for the app to fetch
    # characters of the reply shown in a push (lock screens, the push gateways); 0: "You have a new reply."
    push_preview_chars: int = Field(ge=0, le=1000)
    job_concurrency: int = Field(ge=1, le=1000)

    @field_validator("apps")
    @classmethod
    def _app_names(cls, value: dict[str, MobileAppConfig]) -> dict[str, MobileAppConfig]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"app name {name!r} must be 1-64 letters, digits and _ . -")
        return value


class WebConfig(_Strict):
    # auto: anonymous sessions only while server.host is a loopback address (the demo)
    anonymous: Literal["auto", "on", "off"]
    allowed_origins: list[str] = Field(max_length=100)  # pages on other origins that may embed the widget
    demo_page: bool
    session_ttl_s: int = Field(ge=60, le=30 * 86400)
    history_ttl_s: int = Field(ge=60, le=365 * 86400)  # a conversation's frames are kept this long
    keep_frames: int = Field(ge=10, le=5000)  # per conversation (each reload reads them all)
    max_frame_bytes: int = Field(ge=1024, le=1_000_000)
    max_connections: int = Field(ge=1, le=1_000_000)
    messages_per_minute: float = Field(gt=0, le=6000)
    burst: int = Field(ge=1, le=1000)
    anonymous_per_minute: float = Field(gt=0, le=100_000)  # new anonymous sessions per client address
    anonymous_burst: int = Field(ge=1, le=100_000)
    # per client address, all its anonymous sessions together (each session also has the per-user limit)
    anonymous_messages_per_minute: float = Field(gt=0, le=1_000_000)
    anonymous_messages_burst: int = Field(ge=1, le=1_000_000)
    max_waiting_per_address: int = Field(ge=1, le=100_000)  # sockets from one address yet to say hello

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com (no path, no slash)")
        return value


class SegmentConfig(_Strict):
    """Who a segment is (channels, roles, a share of users) and what answers them (docs/models.md)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    adapter: Path | None = None  # local model: a peft LoRA adapter folder (relative to the YAML)
    model: str | None = Field(default=None, min_length=1, max_length=200)  # remote: the served adapter's name
    tone: str = Field(default="", max_length=300)
    channels: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    percent: tuple[int, int] | None = None  # users whose hash bucket (0-99) is in [from, to)
    # when this segment's messages are answered rather than handed over (None: policy's); docs/configuration.md
    answer_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    suggest_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    handover_target: float | None = Field(default=None, ge=0.5, lt=1.0)

    @field_validator("percent")
    @classmethod
    def _range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 0 <= value[0] < value[1] <= 100:
            raise ValueError("percent is [from, to) with 0 <= from < to <= 100")
        return value

    @model_validator(mode="after")
    def _one_threshold(self) -> SegmentConfig:
        if self.answer_threshold is not None and self.handover_target is not None:
            raise ValueError("answer_threshold or handover_target, not both")
        return self


class FileConfig(_Strict):
    company: CompanyConfig
    knowledge: KnowledgeConfig
    retrieval: RetrievalConfig
    generation: GenerationConfig
    policy: PolicySettings
    memory: MemoryConfig
    server: ServerConfig
    slack: SlackConfig
    safety: SafetyConfig
    catalogue: list[ProductConfig]  # product names found in messages, as entities for tools
    orders: OrdersConfig
    actions: ActionsConfig
    notices: NoticesConfig
    tools: dict[str, ApiToolSettings]
    mobile: MobileConfig
    web: WebConfig
    segments: list[SegmentConfig] = Field(default_factory=list, max_length=50)
    intents: dict[str, IntentConfig]

    @field_validator("segments")
    @classmethod
    def _unique_segments(cls, value: list[SegmentConfig]) -> list[SegmentConfig]:
        names = [segment.name for segment in value]
        if len(set(names)) != len(names):
            raise ValueError("segment names must be unique")
        return value


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key not in ("intents", "tools"):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the top level must be a mapping of sections")
    return data


def _first_error(error: ValidationError, source: str) -> SettingsError:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return SettingsError(f"{source}: {key}: {first['msg']}{more}")


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Paths in a YAML file are relative to that file."""

    def resolved(value: object) -> str:
        path = Path(str(value)).expanduser()
        return str(path if path.is_absolute() else base / path)

    knowledge = data.get("knowledge")
    if isinstance(knowledge, dict) and isinstance(knowledge.get("paths"), list):
        knowledge["paths"] = [resolved(p) for p in knowledge["paths"]]
    policy = data.get("policy")
    if isinstance(policy, dict):
        for key in ("judge", "reader_adapter", "reader_combiner", "person_detector"):
            if isinstance(policy.get(key), str) and policy[key] not in ("", "off"):
                policy[key] = resolved(policy[key])
    for segment in data.get("segments") or ():
        if isinstance(segment, dict) and segment.get("adapter"):
            segment["adapter"] = resolved(segment["adapter"])


def load_file_config(path: Path | None, cwd: Path | None = None) -> tuple[FileConfig, Path | None]:
    """Defaults, with the user's YAML merged over them. Returns the config and the file used (if any)."""
    defaults = _read_yaml(DEFAULTS_FILE)
    _resolve_paths(defaults, PROJECT_ROOT)
    if path is None:
        candidate = (cwd or Path.cwd()) / LOCAL_CONFIG
        path = candidate if candidate.is_file() else None
    elif not path.is_file():
        raise SettingsError(f"SWITCHBOARD_CONFIG: no such file: {path}")
    data = defaults
    if path is not None:
        user = _read_yaml(path)
        _resolve_paths(user, path.resolve().parent)
        data = _merge(defaults, user)
    try:
        return FileConfig.model_validate(data), path
    except ValidationError as error:
        raise _first_error(error, str(path or DEFAULTS_FILE)) from None


def load_env_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        name = field if field.isupper() else f"SWITCHBOARD_{field.upper()}"  # aliased ones: REDIS_URL, SLACK_*
        raise SettingsError(f"{name}: {first['msg']}") from None


def serialized_origin(origin: str) -> str:
    """An origin as a browser sends it in `Origin`: lower case, without the scheme's default port."""
    origin = origin.lower()
    for scheme, port in (("https://", ":443"), ("http://", ":80")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin.removesuffix(port)
    return origin


def require_token_off_loopback(settings: Settings, host: str) -> None:
    if settings.api_token is None and not is_loopback(host):
        raise SettingsError(
            f"SWITCHBOARD_API_TOKEN: required to serve on {host}, a non-loopback address "
            "(clients then send 'Authorization: Bearer <token>')"
        )


def load(**overrides: Any) -> tuple[Settings, FileConfig]:
    settings = load_env_settings(**overrides)
    config, _ = load_file_config(settings.config)
    return settings, config
