/* Switchboard chat widget: <script src="https://support.example.com/widget.js" defer></script>
 *
 * data-server        Switchboard's address (default: where this script came from)
 * data-token         a session token your back end got from POST /api/session (names the user)
 * data-session-url   or: your own endpoint that answers {"token": ...} for the signed-in user
 * data-title         the panel's title (default "Support")
 * data-open          "true": open the panel when the page loads
 * Without data-token and data-session-url the widget asks Switchboard for an anonymous session.
 *
 * Protocol: docs/web.md. Everything the model or the knowledge base wrote is put on the page as text
 * (textContent), never as HTML: a reply cannot inject markup or script.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__switchboardWidget) return;
  window.__switchboardWidget = true;
  var data = script.dataset;
  var server = (data.server || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var socketUrl = server.replace(/^http/, "ws") + "/ws";
  var storeKey = "switchboard:" + server;
  var title = data.title || "Support";

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;display:flex;align-items:center;justify-content:center;",
    "background:#1f4fd1;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646}",
    ".bubble:focus-visible,button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:92px;width:380px;max-width:calc(100vw - 40px);height:620px;",
    "max-height:calc(100vh - 120px);background:#fff;color:#1b1b1b;border-radius:14px;display:flex;",
    "flex-direction:column;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483647}",
    ".panel[hidden]{display:none}",
    "header{background:#1f4fd1;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header h2{font-size:16px;margin:0;flex:1}",
    "header button{background:transparent;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:6px;",
    "padding:4px 8px;cursor:pointer;font-size:13px}",
    ".conn{font-size:12px;padding:4px 14px;background:#fff4ce;color:#5c4400}",
    ".conn:empty{display:none}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;font-size:14px;line-height:1.45}",
    ".msg{max-width:88%;padding:8px 11px;border-radius:12px;word-wrap:break-word;overflow-wrap:anywhere}",
    ".user{align-self:flex-end;background:#1f4fd1;color:#fff;white-space:pre-wrap}",
    ".user.failed{background:#b3261e}",
    ".bot{align-self:flex-start;background:#f1f3f6}",
    ".bot p{margin:0 0 6px}.bot p:last-child{margin-bottom:0}.bot ul,.bot ol{margin:4px 0;padding-left:20px}",
    ".bot code{background:#e2e6ec;padding:0 3px;border-radius:3px;font-family:ui-monospace,monospace}",
    ".bot a{color:#1f4fd1}",
    ".status{font-style:italic;color:#555}",
    ".sources{margin-top:6px;font-size:12px;color:#444}.sources ul{margin:2px 0;padding-left:16px}",
    ".actions{margin-top:8px;display:flex;flex-wrap:wrap;gap:6px}",
    ".actions button{border:1px solid #1f4fd1;background:#fff;color:#1f4fd1;border-radius:16px;padding:4px 10px;",
    "cursor:pointer;font-size:13px}",
    ".feedback{margin-top:6px;font-size:12px;color:#444;display:flex;align-items:center;gap:6px}",
    ".feedback button{border:1px solid #bbb;background:#fff;color:#333;border-radius:6px;cursor:pointer;padding:2px 6px;line-height:0}",
    ".feedback button[aria-pressed=true]{background:#dce6ff;border-color:#1f4fd1}",
    ".handover{margin-top:8px;font-size:13px;color:#0b5a2a;background:#e3f5e9;border-radius:8px;padding:6px 8px}",
    ".error{color:#b3261e;font-size:12px;margin-top:4px}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e3e3}",
    "textarea{flex:1;resize:none;border:1px solid #bbb;border-radius:8px;padding:8px;font-size:14px;height:42px}",
    "form button{background:#1f4fd1;color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer;font-size:14px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}",
    ".bubble{right:14px;bottom:14px}}"
  ].join("");

  // --- elements ----------------------------------------------------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  var host = el("div", { id: "switchboard-widget" });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", {}, CSS));
  // Icons are inline SVG (Material Icons paths, Apache-2.0): emoji fonts are missing on many machines.
  var ICONS = {
    chat: "M20 2H4c-1.1 0-2 .9-2 2v18l4-4h14c1.1 0 2-.9 2-2V4c0-1.1-.9-2-2-2z",
    up: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 " +
      "7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"
  };
  function icon(name, size, flip) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size);
    svg.setAttribute("height", size);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("fill", "currentColor");
    if (flip) svg.setAttribute("transform", "rotate(180)");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }
  var bubble = el("button", { class: "bubble", type: "button", "aria-label": "Open the " + title + " chat",
    "aria-expanded": "false", "aria-controls": "sb-panel" });
  bubble.appendChild(icon("chat", "28"));
  var panel = el("section", { class: "panel", id: "sb-panel", role: "dialog", "aria-label": title + " chat" });
  panel.hidden = true;
  var header = el("header");
  header.appendChild(el("h2", {}, title));
  var fresh = el("button", { type: "button", "aria-label": "Start a new conversation" }, "New chat");
  var close = el("button", { type: "button", "aria-label": "Close the chat" }, "\u2715");
  header.appendChild(fresh);
  header.appendChild(close);
  var conn = el("div", { class: "conn", role: "status" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
  var form = el("form");
  var label = el("label", { class: "sr", for: "sb-input" }, "Your message");
  var input = el("textarea", { id: "sb-input", rows: "1", maxlength: "4000", placeholder: "Ask a question\u2026" });
  var send = el("button", { type: "submit" }, "Send");
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(conn);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(bubble);
  root.appendChild(panel);
  (document.body || document.documentElement).appendChild(host);

  function setOpen(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    bubble.setAttribute("aria-label", (open ? "Close" : "Open") + " the " + title + " chat");
    if (open) { input.focus(); scrollDown(); connect(); } else { bubble.focus(); }
  }
  bubble.addEventListener("click", function () { setOpen(panel.hidden); });
  close.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var id = clientId();
    userBubble(id, text);
    queue({ type: "message", text: text, client_id: id });
  });
  function clearLog() {
    log.textContent = "";
    bubbles = {};
    lastSeq = 0;
  }
  fresh.addEventListener("click", function () {
    state.conversation_id = "c-" + clientId();
    save();
    clearLog();
    pending = [];
    if (socket) { restarting = true; socket.close(1000, "new conversation"); }
  });

  // --- markdown, safely: only text nodes and a few known elements ---------------------------------------
  var INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*|_[^_\n]+_)|(\[[^\]\n]+\]\((https?:\/\/[^\s)]+)\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
  function link(href, text) {
    var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow" }, text);
    return a;
  }
  function inline(parent, text) {
    var at = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text)) !== null) {
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      if (m[1]) parent.appendChild(el("code", {}, m[1].slice(1, -1)));
      else if (m[2]) parent.appendChild(el("strong", {}, m[2].slice(2, -2)));
      else if (m[3]) parent.appendChild(el("em", {}, m[3].slice(1, -1)));
      else if (m[4]) parent.appendChild(link(m[5], m[4].slice(1, m[4].indexOf("]("))));
      else parent.appendChild(link(m[6], m[6]));
      at = INLINE.lastIndex;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }
  function markdown(target, text) {
    target.textContent = "";
    var blocks = text.replace(/\r/g, "").split(/\n{2,}/);
    blocks.forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim(); });
      if (!lines.length) return;
      var bullets = lines.every(function (l) { return /^\s*([-*\u2022])\s+/.test(l); });
      var numbered = lines.every(function (l) { return /^\s*\d+[.)]\s+/.test(l); });
      if (bullets || numbered) {
        var list = el(bullets ? "ul" : "ol");
        lines.forEach(function (l) {
          var item = el("li");
          inline(item, l.replace(/^\s*([-*\u2022]|\d+[.)])\s+/, ""));
          list.appendChild(item);
        });
        target.appendChild(list);
        return;
      }
      var p = el("p");
      lines.forEach(function (l, i) {
        if (i) p.appendChild(el("br"));
        inline(p, l);
      });
      target.appendChild(p);
    });
  }

  // --- the conversation on the page ---------------------------------------------------------------------
  var bubbles = {};  // message id or client id -> element
  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function userBubble(id, text) {
    var node = bubbles["c:" + id];
    if (!node) {
      node = el("div", { class: "msg user", "data-client-id": id });
      node.appendChild(el("span", { class: "sr" }, "You: "));
      node.appendChild(document.createTextNode(text));
      bubbles["c:" + id] = node;
      log.appendChild(node);
      scrollDown();
    }
    return node;
  }
  function botBubble(messageId) {
    var node = bubbles["m:" + messageId];
    if (!node) {
      node = el("div", { class: "msg bot", "data-message-id": messageId });
      node.appendChild(el("span", { class: "sr" }, title + ": "));
      node.appendChild(el("div", { class: "status" }));
      node.appendChild(el("div", { class: "text" }));
      node.raw = "";
      bubbles["m:" + messageId] = node;
      log.appendChild(node);
    }
    return node;
  }
  function part(node, cls) { return node.querySelector("." + cls); }
  function final(frame) {
    var node = botBubble(frame.message_id), reply = frame.reply;
    part(node, "status").textContent = "";
    node.raw = reply.response;
    markdown(part(node, "text"), reply.response);
    node.setAttribute("data-final", "true");
    node.setAttribute("aria-busy", "false");
    // hand-overs and refusals speak the customer's language: their text is read aloud in it (the widget's
    // own labels around it stay in the page's language)
    var lang = (reply.metadata && /^[a-z]{2,3}$/.test(reply.metadata.language || "")) ? reply.metadata.language : "";
    if (lang) part(node, "text").setAttribute("lang", lang); else part(node, "text").removeAttribute("lang");
    if (reply.sources && reply.sources.length && !part(node, "sources")) {
      var sources = el("div", { class: "sources" }, "Sources:");
      var list = el("ul");
      reply.sources.forEach(function (url) {
        var item = el("li");
        url = String(url);
        if (/^https?:\/\//.test(url)) item.appendChild(link(url, url.replace(/^https?:\/\//, "")));
        else item.textContent = url;  // a file path, or anything else: never a link
        list.appendChild(item);
      });
      sources.appendChild(list);
      node.appendChild(sources);
    }
    if (reply.actions && reply.actions.length && !part(node, "actions")) {
      var actions = el("div", { class: "actions", role: "group", "aria-label": "Suggested actions" });
      reply.actions.forEach(function (a) {
        var button = el("button", { type: "button", "data-action": a.action }, a.label);
        button.addEventListener("click", function () {
          var id = clientId();
          userBubble(id, a.label);
          queue({ type: "action", action: a.action, value: a.value || "", label: a.label, client_id: id });
        });
        actions.appendChild(button);
      });
      node.appendChild(actions);
    }
    // an English line under a reply in another language would only repeat its hand-over words
    if (reply.metadata && reply.metadata.escalated && (!lang || lang === "en") && !part(node, "handover")) {
      node.appendChild(el("div", { class: "handover", role: "status" },
        "Connecting you with a person\u2026 they will reply here."));
    }
    if (!part(node, "feedback")) {
      var box = el("div", { class: "feedback", role: "group", "aria-label": "Did this answer your question?" });
      box.appendChild(el("span", {}, "Did this answer your question?"));
      [["up", "Yes, it did"], ["down", "No, it did not"]].forEach(function (v) {
        var b = el("button", { type: "button", "data-vote": v[0], "aria-label": v[1], "aria-pressed": "false" });
        b.appendChild(icon("up", "14", v[0] === "down"));
        b.addEventListener("click", function () {
          queue({ type: "feedback", message_id: frame.message_id, value: v[0] });
          voted(frame.message_id, v[0]);
        });
        box.appendChild(b);
      });
      node.appendChild(box);
    }
    scrollDown();
  }
  function voted(messageId, value) {
    var node = bubbles["m:" + messageId];
    if (!node) return;
    node.querySelectorAll(".feedback button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-vote") === value));
      b.disabled = true;
    });
  }
  function failed(clientIdValue, message) {
    var node = bubbles["c:" + clientIdValue];
    pending = pending.filter(function (f) { return f.client_id !== clientIdValue; });
    if (!node) return;
    node.classList.add("failed");
    node.appendChild(el("div", { class: "error", role: "alert" }, message));
  }

  // --- frames from the server -----------------------------------------------------------------------------
  var lastSeq = 0;
  function onFrame(frame) {
    if (frame.seq !== undefined) {
      if (frame.seq <= lastSeq) return;  // already shown (a replay overlapping what arrived live)
      lastSeq = frame.seq;
    }
    switch (frame.type) {
      case "ready":
        conn.textContent = "";
        if (frame.max_frame_bytes) maxFrameBytes = frame.max_frame_bytes - 512;
        if (seenUser && frame.user_id !== seenUser) {  // another session's numbers: start the page again
          seenUser = frame.user_id;
          clearLog();
          restarting = true;
          if (socket) socket.close(1000, "new session");
          return;
        }
        seenUser = frame.user_id;
        flush(true);
        return;
      case "reset":  // the server holds less than we have seen (a new session): start the page again
        clearLog();
        return;
      case "message":
        pending = pending.filter(function (f) { return f.client_id !== frame.client_id; });
        userBubble(frame.client_id, frame.text).setAttribute("data-message-id", frame.message_id);
        return;
      case "status":
        var node = botBubble(frame.message_id);
        if (!node.raw) part(node, "status").textContent = frame.text;
        scrollDown();
        return;
      case "token":
        var bot = botBubble(frame.message_id);
        if (bot.getAttribute("data-final")) return;
        bot.setAttribute("aria-busy", "true");  // screen readers hear the answer once, when it is whole
        part(bot, "status").textContent = "";
        bot.raw += frame.text;
        markdown(part(bot, "text"), bot.raw);
        scrollDown();
        return;
      case "final":
        final(frame);
        return;
      case "feedback":
        voted(frame.message_id, frame.value);
        return;
      case "error":
        if (frame.client_id) failed(frame.client_id, frame.message);
        else if (frame.message_id) {
          var target = botBubble(frame.message_id);
          target.setAttribute("aria-busy", "false");
          part(target, "status").textContent = "";
          target.appendChild(el("div", { class: "error", role: "alert" }, frame.message || "Something went wrong."));
        } else conn.textContent = frame.message;
        return;
    }
  }

  // --- the session and the socket ---------------------------------------------------------------------
  // Kept across reloads: the conversation id, and an anonymous session's token. A token your back end
  // issued names a signed-in user: it stays in memory only, so the next person on a shared browser
  // cannot pick it up.
  var named = Boolean(data.token || data.sessionUrl);
  var state = {};
  try { state = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { state = {}; }
  if (named) { state.token = null; state.expires_at = 0; }
  if (data.token) { state.token = data.token; state.expires_at = tokenExpiry(data.token); }
  if (!state.conversation_id) state.conversation_id = "c-" + clientId();
  function save() {
    var kept = { conversation_id: state.conversation_id };
    if (!named) { kept.token = state.token; kept.expires_at = state.expires_at; }
    try { localStorage.setItem(storeKey, JSON.stringify(kept)); } catch (e) { /* private mode */ }
  }
  function tokenExpiry(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4))).exp || 0;
    } catch (e) { return 0; }
  }
  save();
  function clientId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function newSession() {
    if (data.sessionUrl) {
      return fetch(data.sessionUrl, { credentials: "include", method: "POST" }).then(function (r) {
        if (!r.ok) throw new Error("your session could not be started (" + r.status + ")");
        return r.json();
      });
    }
    if (data.token) return Promise.reject(new Error("the chat session has expired; reload the page"));
    return fetch(server + "/api/session", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}"
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body.error && body.error.message) || "no session (" + r.status + ")");
        return body;
      });
    });
  }

  var socket = null, attempts = 0, pending = [], reconnectTimer = null, connecting = false, restarting = false;
  var maxFrameBytes = 15000;  // until `ready` tells the server's web.max_frame_bytes
  var seenUser = null;
  function tooBig(frame) { return new Blob([JSON.stringify(frame)]).size > maxFrameBytes; }
  function queue(frame) {
    if (tooBig(frame)) {
      failed(frame.client_id, "This message is too long to send.");
      return;
    }
    pending.push(frame);
    flush(false);
  }
  function flush(all) {
    // After a reconnect every message not yet echoed is sent again: the server answers a client id once.
    if (!socket || socket.readyState !== 1 || !socket.sbReady) return;
    pending.forEach(function (frame) {
      if (all || !frame.sent) { socket.send(JSON.stringify(frame)); frame.sent = true; }
    });
    pending = pending.filter(function (f) { return f.type === "message" || f.type === "action"; });
  }
  function connect() {
    if (socket || reconnectTimer || connecting) return;
    connecting = true;
    var ready = state.token && state.expires_at > Date.now() / 1000 + 30 ? Promise.resolve(null) : newSession();
    ready.then(function (issued) {
      connecting = false;
      if (issued) { state.token = issued.token; state.expires_at = issued.expires_at || tokenExpiry(issued.token); save(); }
      open();
    }).catch(function (error) {
      connecting = false;
      conn.textContent = "Chat unavailable: " + error.message;
      retry();
    });
  }
  function open() {
    var ws = new WebSocket(socketUrl);
    var opened = Date.now();
    socket = ws;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "hello", token: state.token, conversation_id: state.conversation_id, after: lastSeq }));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "ready") ws.sbReady = true;
      onFrame(frame);
    };
    ws.onclose = function (event) {
      if (socket === ws) socket = null;
      if (Date.now() - opened > 10000) attempts = 0;  // it was working: reconnect quickly
      if (event.code === 4401) { state.token = null; state.expires_at = 0; save(); }  // a new session next
      if (event.code === 4400) { state.conversation_id = "c-" + clientId(); save(); clearLog(); }
      if (event.code === 1009) {  // a frame was too big: never send it again
        pending.filter(tooBig).forEach(function (f) { failed(f.client_id, "This message is too long to send."); });
      }
      if (restarting) { restarting = false; connect(); return; }
      conn.textContent = "Reconnecting\u2026";
      retry();
    };
  }
  function retry() {
    if (reconnectTimer) return;
    var delay = Math.min(10000, 400 * Math.pow(2, attempts++)) * (0.75 + Math.random() / 2);
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, delay);
  }

  window.SwitchboardWidget = { open: function () { setOpen(true); }, close: function () { setOpen(false); } };
  if (data.open === "true" || state.conversation_id && state.token) connect();
  if (data.open === "true") setOpen(true);
})();
