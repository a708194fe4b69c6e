"""The chat widget in a real headless Chromium (Debian's, driven by Playwright) against a real server.

Skipped where Chromium or Playwright is missing, unless SWITCHBOARD_REQUIRE_BROWSER=1 (.ci/run sets it,
after installing both): there a missing browser fails the run instead of hiding the test.
SWITCHBOARD_SCREENSHOT=docs/widget.png saves the picture of the answered question that docs/web.md shows.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from pydantic import SecretStr

from bot.app import SLOT, create_app
from bot.settings import FileConfig, Settings
from engine.types import ConversationRef, EventKind
from memory.feedback import RedisFeedbackStore
from tests.conftest import own_prefix, start_ready

CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-test-token-0123456789"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUESTION = "hi, how long until my refund shows up on my card??"
SECOND = "and can i change the delivery address after ordering"

try:
    from playwright.async_api import Locator, Page, WebSocket, WebSocketRoute, async_playwright, expect
except ImportError:  # pragma: no cover - the skip below says so
    async_playwright = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser]
if async_playwright is None or shutil.which(CHROMIUM) is None:
    if os.environ.get("SWITCHBOARD_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"browser tests need playwright and {CHROMIUM} (.ci/run installs them)")
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason=f"needs playwright and {CHROMIUM}")]


@pytest.fixture(scope="module")
async def served_app(settings: Settings, file_config: FileConfig) -> AsyncIterator[tuple[str, web.Application]]:
    app = create_app(settings.model_copy(update={"api_token": SecretStr(TOKEN)}), own_prefix(file_config, "browser"))

    async def shop(request: web.Request) -> web.Response:
        """A customer's site that signed the user in: its back end put their session token in the tag."""
        token = html.escape(request.query["token"])
        tag = f'<script src="/widget.js" data-token="{token}" data-open="true"></script>'
        page = f"<!doctype html><title>shop</title>{tag}"
        return web.Response(text=page, content_type="text/html")

    async def tienda(request: web.Request) -> web.Response:
        """A Spanish site: the widget's own labels follow the page's language (or the tag's data-lang)."""
        asked = html.escape(request.query.get("lang", ""))
        tag = f'<script src="/widget.js" data-open="true"{f" data-lang={asked!r}" if asked else ""}></script>'
        page = f'<!doctype html><html lang="es"><title>tienda</title>{tag}</html>'
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/shop", shop)
    app.router.add_get("/tienda", tienda)
    server = await start_ready(app)
    for _ in range(100):  # the web channel starts right after the runtime
        if app[SLOT].web is not None:
            break
        await asyncio.sleep(0.05)
    yield str(server.make_url("")).rstrip("/"), app
    await server.close()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await browser.new_context(viewport={"width": 1100, "height": 820})
        yield await context.new_page()
        await context.close()
        await browser.close()


def record_frames(page: Page) -> list[dict[str, Any]]:
    """Every frame the widget's sockets receive, in order."""
    frames: list[dict[str, Any]] = []

    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


def words(text: str) -> str:
    """Whitespace-insensitive, markdown emphasis as rendered (the markers are not shown)."""
    return " ".join(text.replace("**", "").split())


async def shown(locator: Locator) -> str:
    """The text as rendered (line breaks count as spaces)."""
    return words(await locator.inner_text())


async def ask(page: Page, text: str) -> None:
    box = page.locator("#sb-input")
    await box.fill(text)
    await box.press("Enter")


async def test_the_widget_answers_streams_cites_votes_and_survives_a_reload(
    page: Page, served_app: tuple[str, web.Application], redis_client: Any, file_config: FileConfig
) -> None:
    base, app = served_app
    frames = record_frames(page)
    await page.goto(f"{base}/")
    await expect(page.locator("section.panel")).to_be_visible()
    await ask(page, QUESTION)
    answer = page.locator(".msg.bot[data-final=true]")
    await expect(answer).to_have_count(1, timeout=60_000)
    final = next(f for f in frames if f["type"] == "final")
    tokens = [f for f in frames if f["type"] == "token" and f["message_id"] == final["message_id"]]
    assert tokens  # pieces that arrive while one is being sent go out together: at least one
    assert frames.index(tokens[0]) < frames.index(final)
    reply = final["reply"]
    assert await shown(answer.locator(".text")) == words(reply["response"])
    source = answer.locator(".sources a").first
    await expect(source).to_have_attribute("href", reply["sources"][0])
    assert (await source.get_attribute("rel") or "").startswith("noopener")
    assert await page.locator(".msg.user").count() == 1
    if os.environ.get("SWITCHBOARD_SCREENSHOT"):
        await page.screenshot(path=Path(os.environ["SWITCHBOARD_SCREENSHOT"]))

    await answer.locator("button[data-vote=up]").focus()  # by keyboard: the vote keeps the customer's place
    await page.keyboard.press("Enter")
    await expect(answer.locator("button[data-vote=up]")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#sb-input")).to_be_focused()  # not dropped to the page with the disabled button
    user_id = next(f for f in frames if f["type"] == "ready")["user_id"]
    votes = RedisFeedbackStore(redis_client, own_prefix(file_config, "browser").memory.prefix)
    for _ in range(50):
        if await votes.get(user_id, final["message_id"]) is not None:
            break
        await asyncio.sleep(0.1)
    vote = await votes.get(user_id, final["message_id"])
    assert vote is not None
    assert vote["vote"] == "up"

    await page.reload()
    restored = page.locator(".msg.bot[data-final=true]")
    await expect(restored).to_have_count(1, timeout=20_000)
    await expect(page.locator(".msg.user")).to_have_text([f"You: {QUESTION}"])
    assert await shown(restored.locator(".text")) == words(reply["response"])
    await expect(restored.locator("button[data-vote=up]")).to_have_attribute("aria-pressed", "true")

    # The network drops while the next answer is on its way: the widget reconnects and shows it once.
    conversation = await page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('switchboard:'))[1]")
    ref = ConversationRef("web", json.loads(conversation)["conversation_id"], user_id)
    channel = app[SLOT].web
    runtime = app[SLOT].runtime
    assert channel is not None
    assert runtime is not None
    dropped = asyncio.Event()

    async def drop_mid_answer() -> None:
        async with runtime.bus.subscribe(ref) as events:
            while (await events.get()).kind is EventKind.FINAL:
                pass  # the first status or token of the next answer
            for connection in tuple(channel.live.get((ref.user_id, ref.conversation_id), ())):
                connection.request.transport.abort()  # type: ignore[union-attr]
            dropped.set()

    dropper = asyncio.create_task(drop_mid_answer())
    await ask(page, SECOND)
    await asyncio.wait_for(dropped.wait(), 30)
    await dropper
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(2, timeout=60_000)
    await expect(page.locator(".conn")).to_be_empty(timeout=20_000)  # reconnected
    await expect(page.locator(".msg.user")).to_have_count(2)
    await expect(page.locator(".msg.bot")).to_have_count(2)
    second = [f for f in frames if f["type"] == "final"][-1]
    assert second["message_id"] != final["message_id"]
    latest = page.locator(".msg.bot[data-final=true] .text").nth(1)
    assert await shown(latest) == words(second["reply"]["response"])


async def test_the_widget_is_usable_with_the_keyboard_and_on_a_phone(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    base, _ = served_app
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{base}/")
    panel = page.locator("section.panel")
    await expect(panel).to_be_visible()
    box = await panel.bounding_box()
    assert box is not None
    assert box["width"] == 390
    await expect(page.locator("[role=log]")).to_have_attribute("aria-live", "polite")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    bubble = page.locator("button.bubble")
    await expect(bubble).to_be_focused()
    await expect(bubble).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Enter")
    await expect(panel).to_be_visible()
    await expect(page.locator("#sb-input")).to_be_focused()
    # a paste longer than a message may be is cut by the browser: the customer is told, not left to find out
    await page.locator("#sb-input").fill("x" * 5000)
    await expect(page.locator(".conn")).to_have_text("This message is too long to send.")
    await page.locator("#sb-input").fill("a short question")
    await expect(page.locator(".conn")).to_be_empty()


async def test_markup_from_the_model_or_the_pages_is_never_html(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    """A reply is put on the page as text: a crafted final frame (as a poisoned page or a model could
    write it) is slipped between the real server and the widget."""
    base, _ = served_app
    routes: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        route.connect_to_server()
        routes.append(route)

    await page.route_web_socket(re.compile(r".*/ws$"), through)
    await page.goto(f"{base}/")
    await expect(page.locator("section.panel")).to_be_visible()
    await expect(page.locator(".conn")).to_be_empty()
    reply = {
        "response": "<img src=x onerror=\"document.title='pwned'\"> **fine** [bad](javascript:alert(1)) "
        "[good](https://help.example.com/a) <script>document.title='pwned'</script>",
        "sources": ["javascript:alert(1)", "<b>Refunds</b>"],
        "actions": [{"type": "button", "label": "<i>Talk</i>", "action": "escalate"}],
        "metadata": {"confidence": 0.9, "intent": "x", "user_role": "customer", "escalated": True},
    }
    draft = {"type": "token", "message_id": "crafted", "text": "a streamed draft that a guard then replaced"}
    routes[-1].send(json.dumps(draft))
    await expect(page.locator(".msg.bot[data-message-id=crafted] .text")).to_contain_text("streamed draft")
    routes[-1].send(json.dumps({"type": "final", "message_id": "crafted", "reply": reply}))
    bubble = page.locator(".msg.bot[data-message-id=crafted]")
    await expect(bubble).to_have_count(1)
    await expect(bubble.locator(".text")).not_to_contain_text("streamed draft")  # the final is authoritative
    assert await page.title() != "pwned"
    assert await page.locator("#switchboard-widget img, #switchboard-widget script").count() == 0
    await expect(bubble.locator("strong")).to_have_text("fine")
    await expect(bubble.locator("a[href^='javascript']")).to_have_count(0)
    await expect(bubble.locator(".text a")).to_have_attribute("href", "https://help.example.com/a")
    await expect(bubble.locator(".sources li")).to_have_text(["javascript:alert(1)", "<b>Refunds</b>"])
    await expect(bubble.locator(".actions button")).to_have_text("<i>Talk</i>")
    await expect(bubble.locator(".handover")).to_contain_text("Connecting you with a person")
    assert await bubble.locator(".text").get_attribute("lang") is None, "no language given: the page's"
    # a hand-over in the customer's language already says so: no English line under it, read aloud in Spanish
    spanish = reply | {"response": "Le pondré en contacto con un miembro de nuestro equipo."}
    spanish["metadata"] = {
        "confidence": 1.0,
        "intent": "x",
        "user_role": "customer",
        "escalated": True,
        "language": "es",
    }
    routes[-1].send(json.dumps({"type": "final", "message_id": "crafted-es", "reply": spanish}))
    hand_over = page.locator(".msg.bot[data-message-id=crafted-es]")
    await expect(hand_over.locator(".text")).to_have_attribute("lang", "es")
    await expect(hand_over.locator(".text")).to_contain_text("Le pondré en contacto")
    await expect(hand_over.locator(".handover")).to_have_count(0)


async def test_a_site_names_the_user_with_a_token_that_is_never_stored(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    """The site's back end asked for the session; the page carries it in data-token."""
    base, _ = served_app
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with ClientSession() as http:
        async with http.post(f"{base}/api/session", json={"user_id": "shopper-7"}, headers=headers) as response:
            token = (await response.json())["token"]
    frames = record_frames(page)
    await page.goto(f"{base}/shop?token={token}")
    await ask(page, QUESTION)
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(1, timeout=60_000)
    assert next(f for f in frames if f["type"] == "ready")["user_id"] == "shopper-7"
    stored = await page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert token not in stored
    assert "conversation_id" in stored

    # a signed-in user's unsent words are not left in the browser either (as their token is not)
    await page.route_web_socket(re.compile(r".*/ws$"), swallowing_messages)
    await page.reload()
    await expect(page.locator(".conn")).to_be_empty()
    await ask(page, SECOND)
    await expect(page.locator(".msg.user")).to_have_count(2)
    kept = await page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert SECOND not in kept


def swallowing_messages(route: WebSocketRoute) -> None:
    """Between the widget and the server: the customer's messages are lost on the way, as on a dead link."""
    server = route.connect_to_server()

    def to_server(sent: str | bytes) -> None:
        if not (isinstance(sent, str) and json.loads(sent).get("type") == "message"):
            server.send(sent)

    route.on_message(to_server)


async def test_the_widget_speaks_the_pages_language_and_a_hand_over_in_it(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    base, _ = served_app
    await page.goto(f"{base}/tienda")
    host = page.locator("#switchboard-widget")
    await expect(host).to_have_attribute("lang", "es")
    await expect(page.locator("form button[type=submit]")).to_have_text("Enviar")
    await expect(page.locator("#sb-input")).to_have_attribute("placeholder", re.compile("pregunta", re.I))
    await ask(page, "quiero hablar con una persona, por favor")
    answer = page.locator(".msg.bot[data-final=true]")
    await expect(answer).to_have_count(1, timeout=60_000)
    await expect(answer.locator(".text")).to_have_attribute("lang", "es")
    await expect(answer.locator(".text")).to_contain_text("equipo")  # the hand-over, in Spanish
    await expect(answer.locator(".handover")).to_contain_text("persona")  # the widget's line, in the same language
    await expect(answer.locator(".actions button")).to_have_text("Hablar con una persona")
    await expect(answer.locator(".feedback")).to_have_count(0)  # a plain hand-over is not asked if it answered

    # a language the site asks for that the widget lacks: English labels, not the browser's or the page's guess
    await page.goto(f"{base}/tienda?lang=xx")
    await expect(page.locator("form button[type=submit]")).to_have_text("Send")


async def test_answers_stay_under_their_questions_when_asked_back_to_back_and_after_a_reload(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    base, _ = served_app
    await page.goto(f"{base}/")
    await expect(page.locator("section.panel")).to_be_visible()
    questions = ["Can I return an opened item?", "How much does express shipping cost?", "Do you ship to Canada?"]
    for question in questions:  # sent while the first is still being answered
        await page.locator("#sb-input").fill(question)
        await page.keyboard.press("Enter")
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(3, timeout=60_000)

    async def in_turn() -> list[tuple[str, str]]:
        nodes = page.locator(".log .msg")
        return [
            (
                (await nodes.nth(n).get_attribute("class") or "").split()[-1],
                await nodes.nth(n).get_attribute("data-message-id") or "",
            )
            for n in range(await nodes.count())
        ]

    live = await in_turn()
    assert [kind for kind, _ in live] == ["user", "bot"] * 3, live
    assert all(live[n][1] == live[n + 1][1] for n in range(0, 6, 2)), "each answer under its own question"
    await page.reload()
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(3, timeout=20_000)
    assert await in_turn() == live  # replayed in the same order


async def test_an_agents_reply_reaches_the_widget_live_and_the_assistant_then_stays_out(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    base, _ = served_app
    frames = record_frames(page)
    await page.goto(f"{base}/tienda")
    await ask(page, "quiero hablar con una persona, por favor")
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(1, timeout=60_000)
    user = next(f["user_id"] for f in frames if f["type"] == "ready")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with ClientSession(headers=auth) as client:
        async with client.get(f"{base}/api/escalations") as listed:
            [record] = [r for r in (await listed.json())["escalations"] if r["user_id"] == user]
        said = "Hola, soy Marta. ¿Me envía una foto del daño? Vea [cómo hacerla](https://help.example/fotos)."
        body = {"user_id": user, "agent": "U-marta", "agent_name": "Marta", "text": said}
        async with client.post(f"{base}/api/escalations/{record['id']}/replies", json=body) as sent:
            assert sent.status == 201, await sent.text()
    agent = page.locator(".msg.bot.agent")
    await expect(agent).to_have_count(1, timeout=10_000)  # live: no reload, no new question
    await expect(agent.locator(".author")).to_have_text("Marta \u00b7 Equipo de soporte")
    await expect(agent.locator(".text a")).to_have_attribute("href", "https://help.example/fotos")
    await expect(agent.locator(".feedback")).to_have_count(0)  # a person's words are not voted on
    assert "<" not in await agent.locator(".author").inner_text()

    await ask(page, "aquí está la foto del daño, la caja llegó aplastada por un lado")
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(3, timeout=60_000)
    relayed = page.locator(".msg.bot[data-final=true]").last
    await expect(relayed.locator(".text")).to_contain_text("equipo de soporte")  # passed on, in Spanish
    await expect(relayed.locator(".sources")).to_have_count(0)  # not an answer from the help centre
    await expect(relayed.locator(".feedback")).to_have_count(0)
    await ask(page, "también tengo el número de seguimiento si lo necesita para revisar el envío")
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(4, timeout=60_000)
    await expect(page.locator(".msg.relayed")).to_have_count(2)
    await expect(page.locator(".msg.relayed:visible")).to_have_count(1)  # "passed on" once, not under every line

    # the chat closed, a person replies: the button says there is something new, until it is opened
    await page.locator("#sb-input").press("Escape")
    launcher = page.locator("button.bubble")
    await expect(launcher).not_to_have_class(re.compile("unread"))
    async with ClientSession(headers=auth) as client:
        body = {"user_id": user, "agent": "U-marta", "agent_name": "Marta", "text": "Ya la tengo, gracias."}
        async with client.post(f"{base}/api/escalations/{record['id']}/replies", json=body) as sent:
            assert sent.status == 201, await sent.text()
    await expect(launcher).to_have_class(re.compile("unread"), timeout=10_000)
    await expect(launcher).to_have_attribute("aria-label", re.compile("Nueva respuesta"))
    await launcher.click()
    await expect(launcher).not_to_have_class(re.compile("unread"))
    await page.reload()
    await expect(page.locator(".msg.bot.agent")).to_have_count(2, timeout=10_000)
    await expect(page.locator(".msg.bot.agent .author").first).to_have_text("Marta \u00b7 Equipo de soporte")


async def test_a_message_the_server_never_took_is_sent_after_a_reload_for_that_user_only(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    """Typed while the connection was gone (here: the socket swallows it), then the page reloaded: the
    message used to be lost with the page. It is kept for this tab and sent again, answered once."""
    base, _ = served_app
    swallowing = True

    def through(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def to_server(sent: str | bytes) -> None:
            if swallowing and isinstance(sent, str) and json.loads(sent).get("type") == "message":
                return  # lost on the way, as on a dead connection
            server.send(sent)

        route.on_message(to_server)

    await page.route_web_socket(re.compile(r".*/ws$"), through)
    frames = record_frames(page)
    await page.goto(f"{base}/")
    await expect(page.locator(".conn")).to_be_empty()
    await ask(page, QUESTION)
    await expect(page.locator(".msg.user")).to_have_count(1)
    kept = await page.evaluate("Object.entries(sessionStorage).find(([k]) => k.endsWith(':unsent'))[1]")
    user = next(f["user_id"] for f in frames if f["type"] == "ready")
    assert json.loads(kept)["user"] == user
    assert [m["text"] for m in json.loads(kept)["messages"]] == [QUESTION]

    swallowing = False
    await page.reload()
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(1, timeout=60_000)
    await expect(page.locator(".msg.user")).to_have_text([f"You: {QUESTION}"])
    echoed = [f for f in frames if f["type"] == "message"]
    assert len(echoed) == 1, "taken once"
    assert await page.evaluate("Object.keys(sessionStorage).filter(k => k.endsWith(':unsent')).length") == 0

    # kept for another user (a shared tab whose site signed someone else in): dropped, never sent as this one
    other = json.dumps(
        {"user": "someone-else", "messages": [{"client_id": "c-not-mine-0001", "text": "my card number is on the way"}]}
    )
    await page.evaluate("([k, v]) => sessionStorage.setItem(k, v)", [await unsent_key(page), other])
    await page.reload()
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(1, timeout=20_000)
    await expect(page.locator(".conn")).to_be_empty()
    await expect(page.locator(".msg.user")).to_have_text([f"You: {QUESTION}"])
    assert len([f for f in frames if f["type"] == "message"]) == 2, "the replay's echo only"


async def unsent_key(page: Page) -> str:
    return str(await page.evaluate("Object.keys(localStorage).find(k => k.startsWith('switchboard:')) + ':unsent'"))


async def test_messages_sent_too_fast_are_sent_again_when_the_server_says_not_lost(
    page: Page, settings: Settings, file_config: FileConfig
) -> None:
    """One message every 3 s, no burst: the second of two quick questions is refused as rate-limited. The
    widget used to mark it failed; it now sends it again after the wait the server gives."""
    config = own_prefix(file_config, "browser-slow")
    web_config = config.web.model_copy(update={"messages_per_minute": 20, "burst": 1})
    app = create_app(
        settings.model_copy(update={"api_token": SecretStr(TOKEN)}), config.model_copy(update={"web": web_config})
    )
    server = await start_ready(app)
    try:
        base = str(server.make_url("")).rstrip("/")
        frames = record_frames(page)
        await page.goto(f"{base}/")
        await expect(page.locator(".conn")).to_be_empty(timeout=20_000)
        await ask(page, QUESTION)
        await ask(page, SECOND)
        await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(2, timeout=60_000)
        refused = [f for f in frames if f["type"] == "error" and f.get("code") == "rate_limited"]
        assert refused, "the server did refuse one at first"
        await expect(page.locator(".msg.user.failed")).to_have_count(0)
        await expect(page.locator(".msg.user")).to_have_text([f"You: {QUESTION}", f"You: {SECOND}"])
        asked = await page.locator(".log .msg").evaluate_all("ns => ns.map(n => n.className.split(' ').pop())")
        assert asked == ["user", "bot", "user", "bot"], "each answer under its question"
    finally:
        await server.close()


async def test_after_new_chat_a_persons_reply_brings_the_widget_back_to_that_conversation(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    base, _ = served_app
    frames = record_frames(page)
    await page.goto(f"{base}/")
    await ask(page, "I want to talk to a human")
    await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(1, timeout=60_000)
    user = next(f["user_id"] for f in frames if f["type"] == "ready")
    handed_over = next(f["conversation_id"] for f in frames if f["type"] == "ready")
    await page.get_by_role("button", name="Start a new conversation").click()
    await expect(page.locator(".log .msg")).to_have_count(0)
    for _ in range(100):  # the widget says hello on its new conversation
        if [f["conversation_id"] for f in frames if f["type"] == "ready"][-1] != handed_over:
            break
        await asyncio.sleep(0.1)
    assert [f["conversation_id"] for f in frames if f["type"] == "ready"][-1] != handed_over

    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with ClientSession(headers=auth) as client:
        async with client.get(f"{base}/api/escalations") as listed:
            [record] = [r for r in (await listed.json())["escalations"] if r["user_id"] == user]
        body = {"user_id": user, "agent": "U-ann", "agent_name": "Ann", "text": "Hi, Ann here. What happened?"}
        async with client.post(f"{base}/api/escalations/{record['id']}/replies", json=body) as sent:
            assert sent.status == 201, await sent.text()
    agent = page.locator(".msg.bot.agent")
    await expect(agent).to_have_count(1, timeout=10_000)  # back in the handed-over conversation, with the reply
    await expect(agent.locator(".text")).to_have_text("Hi, Ann here. What happened?")
    await expect(page.locator(".msg.user").first).to_have_text("You: I want to talk to a human")
    kept = await page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('switchboard:'))[1]")
    assert json.loads(kept)["conversation_id"] == handed_over
    await ask(page, "my parcel arrived with the box crushed on one side and the lamp inside is broken")
    relayed = page.locator(".msg.bot[data-final=true]").last
    await expect(relayed.locator(".text")).to_contain_text("support team", timeout=60_000)  # to Ann, not answered
    await expect(relayed.locator(".sources")).to_have_count(0)


async def test_pointers_between_two_handed_over_conversations_are_followed_once_each(
    page: Page, served_app: tuple[str, web.Application]
) -> None:
    """Two hand-overs (one per conversation), a person answering each after the customer moved on: the
    widget used to follow the old pointers in every replay, back and forth for ever."""
    base, _ = served_app
    frames = record_frames(page)
    await page.goto(f"{base}/")
    user = ""
    records: list[str] = []
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with ClientSession(headers=auth) as client:
        for n in range(2):
            if n:
                await page.get_by_role("button", name="Start a new conversation").click()
                await expect(page.locator(".log .msg")).to_have_count(0)
            await ask(page, "I want to talk to a human")
            await expect(page.locator(".msg.bot[data-final=true]")).to_have_count(1, timeout=60_000)
            user = next(f["user_id"] for f in frames if f["type"] == "ready")
            async with client.get(f"{base}/api/escalations") as listed:
                mine = [r["id"] for r in (await listed.json())["escalations"] if r["user_id"] == user]
            records = [*records, *(r for r in mine if r not in records)]
        first, second = records

        async def reply(record: str, text: str) -> None:
            body = {"user_id": user, "agent": "U-ann", "agent_name": "Ann", "text": text}
            async with client.post(f"{base}/api/escalations/{record}/replies", json=body) as sent:
                assert sent.status == 201, await sent.text()

        await reply(first, "About your first question: here is what I found.")
        await expect(page.locator(".msg.bot.agent .text")).to_have_text(
            ["About your first question: here is what I found."]
        )
        await reply(second, "And about the second one: it is sorted.")
        await expect(page.locator(".msg.bot.agent .text")).to_have_text(["And about the second one: it is sorted."])
    await asyncio.sleep(2)  # nothing moves it any more
    await expect(page.locator(".msg.bot.agent .text")).to_have_text(["And about the second one: it is sorted."])
    hellos = [f for f in frames if f["type"] == "ready"]
    assert len(hellos) <= 6, f"{len(hellos)} hellos: it keeps moving"
    await page.reload()
    await expect(page.locator(".msg.bot.agent .text")).to_have_text(["And about the second one: it is sorted."])
