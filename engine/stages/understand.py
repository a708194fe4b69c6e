"""Understand: embed the message once and name its intent by the nearest configured example."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

import numpy as np

from engine.courtesy import courtesy
from engine.cues import mentions_all
from engine.detector import MessageDetector, flagged_anywhere, reusing
from engine.policy import IntentSpec
from engine.protocols import Embedder, EventSink, Vectors
from engine.types import Turn

FALLBACK_INTENT = "general_question"
NEAR_EXACT = 0.9  # cosine at which a message repeats a configured example
Embed = Callable[[list[str]], Vectors]  # texts to their embeddings, one batch


class IntentIndex:
    """Nearest-example intent classifier over sentence embeddings; intents live in configuration."""

    def __init__(
        self, embedder: Embedder, intents: Sequence[IntentSpec], person: MessageDetector | None = None
    ) -> None:
        self.intents = {spec.name: spec for spec in intents}
        # an intent one category of words names (a refund) before those a pair of categories does (an order and
        # where it is): "refund for order 12377, it arrived broken" is about the refund; else in file order
        cued = [spec for spec in intents if spec.cues]
        self._by_cue_groups = sorted(cued, key=lambda spec: min(len(group) for group in spec.cues))
        self._embedder = embedder
        # the detector names the first hand-over intent; with none configured there is nothing to name
        self.handover = next((spec.name for spec in intents if spec.escalate), None)
        self.person = person if self.handover is not None else None
        self._labels: list[str] = [spec.name for spec in intents for _ in spec.examples]
        examples = [example for spec in intents for example in spec.examples]
        self._vectors: Vectors = (
            embedder.embed(examples) if examples else np.zeros((0, embedder.dimension), dtype=np.float32)
        )
        self._calibration = _fit_calibration(self._vectors, self._labels)

    def _features(self, scores: Vectors, exclude: int | None = None) -> tuple[str, float, float]:
        """(nearest intent, its similarity, its lead over the nearest example of another intent)."""
        order = np.argsort(-scores)
        ranked = [int(i) for i in order if int(i) != exclude]
        best = ranked[0]
        rival = next((i for i in ranked if self._labels[i] != self._labels[best]), best)
        return self._labels[best], float(scores[best]), float(scores[best] - scores[rival])

    def confidence(self, vector: Vectors) -> tuple[str, float]:
        """The nearest intent and the calibrated probability that it is the right one (fitted at start
        on the examples themselves, each named by the others)."""
        if not self._labels:
            return FALLBACK_INTENT, 0.0
        name, score, lead = self._features(self._vectors @ vector.reshape(-1))
        return name, _probability(self._calibration, score, lead)

    def by_action(self, action: str) -> str | None:
        """The intent whose buttons include this action: a click means that intent, whatever its label says."""
        for spec in self.intents.values():
            if any(a.action == action for a in spec.actions):
                return spec.name
        return None

    def by_pattern(self, text: str) -> str | None:
        """An intent whose patterns match the text; hand-over intents first, since they must never be missed;
        then one that takes a message that is only a greeting or a thank-you, in any reply language."""
        ordered = sorted(self.intents.values(), key=lambda spec: not spec.escalate)
        for spec in ordered:
            if any(_affirmed(text, match) for pattern in spec.patterns for match in pattern.finditer(text)):
                return spec.name
        polite = courtesy(text)
        if polite is not None:
            return next((spec.name for spec in ordered if spec.courtesy == polite.kind), None)
        return None

    def by_cues(self, text: str) -> str | None:
        """In a message not in English, the first intent with a group of cue categories the message has words
        of all of (engine/cues.py): the examples are English and so is what the embedding reads, so in another
        language these words ("mi pedido", "退款") name the intent. In a message whose language cannot be
        told, only words English does not also write count ("onde ta o pedido")."""
        for spec in self._by_cue_groups:
            if any(mentions_all(text, group) for group in spec.cues):
                return spec.name
        return None

    def named_outright(self, text: str, vector: Vectors, embed: Embed | None = None) -> str | None:
        """The intent the message names without doubt: a hand-over pattern, then in another language than
        English its cue words, then the person-request detector (what the patterns miss), then another
        intent's pattern. Blocking: it may embed the
        message's sentences (with `embed` when given: one that knows some of them already)."""
        named = self.by_pattern(text)
        if named is not None and self.intents[named].escalate:
            return named
        cued = self.by_cues(text)  # before the detector, which reads English: "waar blijft mijn bestelling"
        if cued is not None:
            return cued
        if (
            self.person is not None
            and not self._echoes_another_intent(vector)
            and self.asks_for_person(text, vector, embed)
        ):
            return self.handover
        return named

    def decide(
        self, text: str, vector: Vectors, threshold: float, embed: Embed | None = None
    ) -> tuple[str, bool, Vectors]:
        """The message's intent; whether it was named outright (a pattern or the detector) rather than by
        the nearest example; and the vector it was decided on (for its confidence). A hand-over that no
        pattern affirms is decided again without the requests the customer declines ("no I don't need an
        agent, thanks": the detector and the nearest example see the words agent and need, not the
        "don't"). Blocking: it may embed."""
        intent, outright = self._decide(text, vector, threshold, embed)
        by_pattern = self.by_pattern(text)
        if not self.escalates(intent) or (by_pattern is not None and self.escalates(by_pattern)):
            return intent, outright, vector
        kept = without_declined(text)
        if kept == text:
            return intent, outright, vector
        if not _WORDS.search(kept):
            return FALLBACK_INTENT, False, vector
        kept_vector = (embed or self._embedder.embed)([kept])[0]  # it may be one of the guard's sentences
        return *self._decide(kept, kept_vector, threshold, embed), kept_vector

    def _decide(self, text: str, vector: Vectors, threshold: float, embed: Embed | None) -> tuple[str, bool]:
        named = self.named_outright(text, vector, embed)
        return (named, True) if named is not None else (self.classify(vector, threshold)[0], False)

    def escalates(self, intent: str) -> bool:
        spec = self.intents.get(intent)
        return spec is not None and spec.escalate

    def asks_for_person(self, text: str, vector: Vectors, embed: Embed | None = None) -> bool:
        """The detector on the whole message, then on each of its sentences (blocking: embeds them)."""
        if self.person is None:
            return False
        return flagged_anywhere([self.person], text, vector, embed or self._embedder.embed)[0]

    def _echoes_another_intent(self, vector: Vectors) -> bool:
        """Nearly word for word an example of an intent that is not a hand-over ("hi, anyone there?" is a
        greeting): the configuration says what it is, the detector does not overrule it."""
        if not self._labels:
            return False
        scores = self._vectors @ vector.reshape(-1)
        best = int(np.argmax(scores))
        return float(scores[best]) >= NEAR_EXACT and not self.intents[self._labels[best]].escalate

    def classify(self, vector: Vectors, threshold: float) -> tuple[str, float]:
        if not self._labels:
            return FALLBACK_INTENT, 0.0
        scores = self._vectors @ vector.reshape(-1)
        best = int(np.argmax(scores))
        score = float(scores[best])
        return (self._labels[best], score) if score >= threshold else (FALLBACK_INTENT, score)


# "I don't need an agent", "no need to transfer me", "do not want to speak to a manager": said right before
# the words a pattern names, a negation turns the request around ("no, I want a human" keeps it)
_NEGATED = re.compile(
    r"\b(don['\u2019]?t|do\s+not|doesn['\u2019]?t|didn['\u2019]?t|never|not|no\s+need\s+(to|for)|without)\s+"
    r"((really|even|ever|want|need|wish|have)\s+(to\s+)?){0,2}((a|an|the|any|some)\s+)?$",
    re.IGNORECASE,
)


# the same in the other languages the hand-over patterns speak: "no necesito hablar con un agente", "não preciso
# falar com um atendente", "non ho bisogno di parlare con un operatore", "je n'ai pas besoin de parler à un
# conseiller", "ich möchte nicht mit einem Mitarbeiter sprechen", "ik hoef niet met een medewerker te spreken"
_NO_ELSEWHERE = (
    r"(?:no\s+(?:necesito|quiero|hace\s+falta|me\s+hace\s+falta|es\s+necesario)|n[ãa]o\s+(?:preciso|quero|precisa|é\s+preciso)"
    r"|non\s+(?:ho\s+bisogno|voglio|serve|c['\u2019]è\s+bisogno)|n['\u2019]ai\s+pas\s+besoin|pas\s+besoin"
    r"|ne\s+veux\s+pas|(?:brauche|möchte|will|muss)\s+(?:keinen?|nicht)|kein(?:en)?\s+bedarf|nicht\s+nötig"
    r"|(?:hoef|wil)\s+(?:geen|niet)|nie\s+(?:potrzebuj[eę]|chc[eę]))"
)
_NEGATED_ELSEWHERE = re.compile(
    rf"\b{_NO_ELSEWHERE}(?:\s+(?:de|d['\u2019]|di|que|zu|te|mit|met|con|com|a|à|um|uma|un|una|une|ein\w*|een))*\s*$",
    re.IGNORECASE,
)

# Chinese, written without blanks: "不用转人工了", "不需要人工客服"
_NEGATED_CJK = re.compile(
    r"(?:不用|不需要|不要|别|別|无需|無需|不必|没必要|沒必要)(?:再)?(?:帮我|幫我|给我|給我)?\s*$"
    # Thai, Vietnamese and Indonesian, said before too: "ไม่ต้องโอนสาย…", "Không cần gặp nhân viên", "tidak perlu …"
    r"|(?:ไม่ต้อง|\bkhông(?:\s+cần)?|\b(?:tidak|gak|ga|nggak)\s+(?:perlu|usah))\s*$",
    re.IGNORECASE,
)
# the languages that say no after the person: "Temsilciye gerek yok", "オペレーターは不要です", "Оператор не нужен",
# "상담원 연결 안 해도 돼요"; and, said before it, Thai and Vietnamese ("ไม่ต้องโอนสาย…", "Không cần gặp nhân viên nữa")
_DECLINED_AFTER = re.compile(
    r"(?:gerek\s+yok|gerekmez|lazım\s+değil|不要です|いりません|いらない|結構です|필요\s?없|안\s?해도|не\s+нужен|не\s+нужно|не\s+надо"
    r"|ไม่ต้อง|không\s+cần|tidak\s+perlu|gak\s+perlu|ga\s+usah|nggak\s+usah|ضرورة|داعي|مش\s+محتاج|ज़रूरत\s+नहीं|zarurat\s+nahi"
    r"|nahi\s+chahiye|不用|不需要)",
    re.IGNORECASE,
)
_PERSON_WORD_AFTER = re.compile(
    r"temsilci|yetkili|オペレーター|担当者|有人|人工|客服|상담원|상담사|직원|연결|оператор|сотрудник|человек|เจ้าหน้าที่|พนักงาน|โอนสาย"
    r"|nhân\s+viên|người\s+thật|petugas|agen|manusia|\bcs\b|موظف|ممثل|एजेंट|प्रतिनिधि|\bagent\b|insaan",
    re.IGNORECASE,
)


def _affirmed(text: str, match: re.Match[str]) -> bool:
    before = text[max(0, match.start() - 40) : match.start()]
    # "no need for a rep": the pattern's match starts at "need", so its "no" is all that comes before
    if match.group(0)[:4].lower() == "need" and re.search(r"\bno\s+$", before, re.IGNORECASE):
        return False
    return not any(rule.search(before) for rule in (_NEGATED, _NEGATED_ELSEWHERE, _NEGATED_CJK))


# A declined request for a person: the customer (or an imperative) saying no to being passed on, then the
# rest of the clause, up to ten words, naming a person or a way to reach one ("I don't need an agent", "please
# don't call me", "I never asked for a call back", "no need to get a supervisor involved", "without talking
# to anyone"). Not a question ("why can I not speak to someone", "will you not put me through"), not a
# complaint about what did not happen ("I did not get a call back"), not what the customer dislikes or waits
# for ("I don't like the agent I had", "I don't want to wait for an agent"): those still ask for a person.
# Declining a bot is no refusal of a person ("I don't want a bot, get me someone").
_WHO = r"(?:^|[.!?,;:]\s*|\b(?:i|we|you|please|pls|no|nah|so|and)\s+|\bi(?=['\u2019]m))"
_NO = (
    r"(?:don['\u2019]?t|do\s+not|didn['\u2019]?t|did\s+not|won['\u2019]?t|will\s+not|never|"
    r"(?:['\u2019]m|am)\s+not|no\s+need|without)"
)
_WANTING = (
    r"(?:want|wanna|need|wish|care|require|hav(?:e|ing)\s+to|ask(?:ed|ing)?\s+for|request(?:ed|ing)?|mean)\s+(?:to\s+)?"
)
_REACHING = (
    r"(?:talk\w*|speak\w*|chat\w*|call\w*|ring|phone|transfer\w*|escalat\w*|connect\w*|put\w*|pass\w*|hand\w*"
    r"|bring\w*|involv\w*|send\w*|be\s+(?:transferred|called|contacted|put|passed))"
)
_DECLINED = re.compile(
    rf"{_WHO}{_NO}(?:\s+(?:really|even|ever|actually|necessarily))?"
    rf"(?P<clause>(?:\s+(?:{_WANTING}(?:{_REACHING}|get|have|a|an|the|any|some\w*)|(?:to\s+)?{_REACHING}|for)"
    r"|(?<=need)\s+(?:to\s+)?(?:get|have|a|an|the|any|some\w*))\b"
    r"(?:\s+(?!(?:but|just|so|though|however|please|pls|instead|rather|i|i['\u2019]m|im|we|can|could|what|how"
    r"|when|where|why)\b)[\w'\u2019-]+){0,10})",
    re.IGNORECASE,
)
# the same said with a noun, with a word that declines ("no callback please", "no human needed"): a bare "no
# callback!" or "no agent, just a recording" tells what did not happen, and still asks for one
_DECLINED_NOUN = re.compile(
    r"(?:^|[.!?,;:]\s*|\bso\s+)(?:no|not\s+an?)\s+(?:human|agent|person|callback|call\s*back|phone\s+call"
    r"|call|rep|representative|manager|supervisor|operator)s?\b"
    r"(?:\s+(?:is\s+|are\s+)?(?:needed|necessary|required)\b|\s*,?\s*(?:please|pls|thanks|thank\s+you)\b)",
    re.IGNORECASE,
)
_PERSON_WORD = re.compile(
    r"\b(?:agents?|humans?|person|people|someone|somebody|anyone|anybody|representatives?|reps?|managers?|"
    r"supervisors?|staff|operators?|specialists?|advis[eo]rs?|colleagues?|calls?|callbacks?|phone|ring|"
    r"transfer(?:red)?|escalat\w*|talk(?:ing)?|speak(?:ing)?)\b",
    re.IGNORECASE,
)
# The same in other languages: a negation of needing or wanting, or an imperative not to call, then the rest of
# the clause ("ich brauche keinen Rückruf", "por favor no me llamen", "bitte rufen Sie mich nicht an", "pas
# besoin de m'appeler", "bel me niet"); it declines a person when the clause names one or a call
_DECLINED_ELSEWHERE = re.compile(
    rf"(?P<clause>\b(?:{_NO_ELSEWHERE}|no\s+me\s+(?:llam\w*|transfi\w*|pas\w*)|n[ãa]o\s+me\s+(?:lig\w*|transfi\w*|pass\w*)"
    r"|non\s+(?:mi\s+)?(?:chiam\w*|passat\w*)|ne\s+m['\u2019](?:appel\w*|transf\w*)\s+pas|ne\s+me\s+rappel\w*\s+pas"
    r"|(?:rufen\s+sie|ruft|ruf)\s+mich\s+(?:bitte\s+)?nicht|bel\s+me\s+(?:alsjeblieft\s+|aub\s+)?niet|niet\s+bellen"
    r"|nie\s+dzwo[nń]\w*)"
    r"(?:\s+(?!(?:pero|mais|aber|ma|mas|maar|ale|sólo|solo|só|nur|juste|seulement|alleen|tylko)\b)[^\s.,!?;:]+){0,10})",
    re.IGNORECASE,
)
_PERSON_WORD_ELSEWHERE = re.compile(
    r"\b(?:agentes?|asesor\w*|operador\w*|personas?|alguien|humanos?|representante\w*|llam\w*|hablar|conseill\w*"
    r"|quelqu['\u2019]un|humain\w*|appel\w*|rappel\w*|parler|mitarbeiter\w*|berater\w*|rückruf\w*|anruf\w*|menschen?"
    r"|jemand\w*|sprechen|medewerker\w*|iemand|mens|bellen|spreken|operator\w*|operatore|persona|qualcuno|umano"
    r"|parlare|chiam\w*|atendente\w*|pessoa\w*|algu[ée]m|falar|lig\w*|konsultant\w*|człowiek\w*|rozmaw\w*|dzwo\w*"
    r"|transf\w*|m['\u2019]appeler|agent|ruf\w*|bel)\b|m['\u2019]appel",
    re.IGNORECASE,
)
_WHY_ELSEWHERE = re.compile(
    r"\b(?:por\s*qu[ée]|pourquoi|warum|wieso|perch[ée]|por\s*que|waarom|dlaczego)\b\W*\w*\W*$", re.I
)
_MACHINE_WORD = re.compile(r"\b(?:bots?|chatbots?|robots?|machines?|automated|ai|computers?|scripts?)\b", re.I)
_WORDS = re.compile(r"[^\W\d_]{2,}")
_FILLER = frozenset(
    {"no", "nope", "nah", "ok", "okay", "thanks", "thank", "you", "thx", "i", "i'm", "im", "so"}
    # the same said in the other languages a decline is read in
    | {"gracias", "merci", "danke", "grazie", "obrigado", "obrigada", "bedankt", "dank", "dzięki", "dziękuję"}
    | {"non", "nein", "nee", "nie", "não", "nao", "bitte", "por", "favor", "svp", "per", "piacere", "alsjeblieft"}
)


def without_declined(text: str) -> str:
    """The message without the clauses that decline a person; "" when nothing else but filler remains."""

    def dropping(person: re.Pattern[str], why: re.Pattern[str] | None) -> Callable[[re.Match[str]], str]:
        def drop(match: re.Match[str]) -> str:
            clause, before = match.group("clause"), match.string[max(0, match.start() - 25) : match.start()]
            asked = why is not None and why.search(before)  # "¿por qué no me llaman?" still asks
            declines = person.search(clause) and not _MACHINE_WORD.search(clause) and not asked
            return " " if declines else match.group(0)

        return drop

    kept = _DECLINED_NOUN.sub(" ", _DECLINED.sub(dropping(_PERSON_WORD, None), text))
    kept = _DECLINED_ELSEWHERE.sub(dropping(_PERSON_WORD_ELSEWHERE, _WHY_ELSEWHERE), kept)
    kept = _declined_after(kept)
    if kept == text:
        return text
    kept = re.sub(r"\s+", " ", kept).strip()
    words = re.findall(r"[\w'\u2019]+", kept.lower())  # a word set, not a regex: no input can make it slow
    return "" if all(word in _FILLER for word in words) else kept


def _declined_after(text: str) -> str:
    """The sentences that decline a person in the languages that say no around the person ("Temsilciye gerek
    yok", "オペレーターは不要です"): dropped when they name one and no bot."""
    parts = re.split(r"(?<=[.!?。！？,，、])\s*", text)
    kept = [
        part
        for part in parts
        if not (_DECLINED_AFTER.search(part) and _PERSON_WORD_AFTER.search(part) and not _MACHINE_WORD.search(part))
    ]
    return text if len(kept) == len(parts) else " ".join(kept)


def _probability(weights: Vectors, score: float, lead: float) -> float:
    z = float(weights[0] + weights[1] * score + weights[2] * lead)
    return float(1.0 / (1.0 + np.exp(-z)))


def _fit_calibration(vectors: Vectors, labels: list[str]) -> Vectors:
    """Logistic regression of "the nearest other example has the same intent" on (similarity, lead),
    leave-one-out over the configured examples; a flat prior when there is too little to fit."""
    n = len(labels)
    if n < 10 or len(set(labels)) < 2:
        return np.array([0.0, 0.0, 0.0], dtype=np.float32)
    sims = vectors @ vectors.T
    rows, outcomes = [], []
    for i in range(n):
        scores = sims[i].copy()
        scores[i] = -np.inf
        order = np.argsort(-scores)
        best = int(order[0])
        rival = next((int(j) for j in order if labels[int(j)] != labels[best]), best)
        rows.append((1.0, float(scores[best]), float(scores[best] - scores[rival])))
        outcomes.append(1.0 if labels[best] == labels[i] else 0.0)
    x, y = np.array(rows), np.array(outcomes)
    weights = np.zeros(3)
    for _ in range(50):  # Newton's method with a little ridge: a few dozen examples, converges fast
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - y) + 0.1 * weights
        hessian = (x.T * (p * (1 - p))) @ x + 0.1 * np.eye(3)
        weights -= np.linalg.solve(hessian, gradient)
    return weights.astype(np.float32)


class Understand:
    def __init__(self, embedder: Embedder, intents: IntentIndex, threshold: float) -> None:
        self.embedder = embedder
        self.intents = intents
        self.threshold = threshold

    def _read(self, turn: Turn, clicked: str | None) -> tuple[Vectors, str, bool, Vectors]:
        text = turn.message.text
        embed: Embed | None = None
        if turn.embedded is not None and turn.embedded[0] == text:  # a guard embedded this very text already
            vector = np.asarray(turn.embedded[1], dtype=np.float32)
            known = {part: np.asarray(v, dtype=np.float32) for part, v in turn.embedded_sentences}
            embed = reusing(known, self.embedder.embed)  # and its sentences
        else:
            vector = self.embedder.embed([text])[0]
        if clicked is not None:
            return vector, clicked, True, vector
        return vector, *self.intents.decide(text, vector, self.threshold, embed)

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        clicked = self.intents.by_action(turn.message.action) if turn.message.action else None
        vector, intent, named, decided_on = await asyncio.to_thread(self._read, turn, clicked)
        nearest, probability = self.intents.confidence(decided_on)
        # a click, a pattern or the person-request detector names the intent outright; otherwise how sure
        # the nearest example is
        sure = 1.0 if named else (probability if nearest == intent else 1.0 - probability)
        return turn.evolve(intent=intent, intent_confidence=sure, query_vector=tuple(float(x) for x in vector))
