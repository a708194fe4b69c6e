"""GET /openapi.json: the REST, web, mobile and webhook endpoints as an OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.notices import KINDS as NOTICE_KINDS

_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:@+-]{1,128}$"}
_ERROR = {
    "description": "a JSON error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            }
        }
    },
}
_REPLY = {
    "type": "object",
    "required": ["response", "sources", "actions", "metadata"],
    "properties": {
        "response": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "label", "action"],
                "properties": {
                    "type": {"const": "button"},
                    "label": {"type": "string"},
                    "action": {"type": "string"},
                    "value": {"type": "string"},
                },
            },
        },
        "metadata": {
            "type": "object",
            "properties": {
                "confidence": {"type": "number"},
                "intent": {"type": "string"},
                "user_role": {"type": "string"},
                "escalated": {"type": "boolean"},
                "language": {
                    "type": ["string", "null"],
                    "description": "the language of our own wording (hand-overs, refusals), or of an intent's "
                    "response written per language; null for the help centre's or the operator's other text",
                },
                "segment": {"type": "string", "description": "with segments configured"},
                "adapter": {"type": ["string", "null"], "description": "with segments: the adapter that wrote it"},
                "agent": {
                    "type": "string",
                    "description": "a person of the support team wrote it (intent agent_reply): the name they gave",
                },
                "generation": {
                    "type": "object",
                    "description": "when the model's own words answer: how sure it was of them (natural log)",
                    "properties": {
                        "tokens": {"type": "integer"},
                        "mean_logprob": {"type": "number"},
                        "min_logprob": {"type": "number"},
                    },
                },
            },
        },
        "conversation_id": _ID,
        "message_id": {"type": "string"},
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["user_id", "text"],
    "properties": {"user_id": _ID, "conversation_id": _ID, "text": {"type": "string", "minLength": 1}},
}
_ACTION = {
    "type": "object",
    "required": ["user_id", "action"],
    "properties": {
        "user_id": _ID,
        "conversation_id": _ID,
        "action": {"type": "string", "pattern": "^[a-z0-9_.-]{1,255}$"},
        "value": {"type": "string", "maxLength": 2000},
        "label": {"type": "string", "maxLength": 200},
        "message_id": {"type": "string", "description": "feedback only: the reply voted on"},
    },
}
_ACCEPTED = {
    "description": "accepted; answered later (pushed, and readable from the conversation)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "message_id": {"type": "string"},
                    "conversation_id": _ID,
                    "duplicate": {"type": "boolean"},
                },
            }
        }
    },
}
_SIGNED: list[dict[str, list[str]]] = [{"appSignature": []}]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _reply(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": _REPLY},
            "text/event-stream": {"schema": {"type": "string", "description": "status, token… then final"}},
        },
    }


def _mobile_post(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": _SIGNED,
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}}],
        "requestBody": _json(schema),
        "responses": {"202": _ACCEPTED, "400": _ERROR, "401": _ERROR, "409": _ERROR, "422": _ERROR, "503": _ERROR},
    }


def document(version: str) -> dict[str, Any]:
    device = {
        "type": "object",
        "required": ["user_id", "token"],
        "properties": {"user_id": _ID, "platform": {"enum": ["ios", "android"]}, "token": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard", "version": version, "description": "README.md and docs/ explain each."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "SWITCHBOARD_API_TOKEN"},
                "agentBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SWITCHBOARD_AGENT_TOKEN (unset: requests from this machine only, else 403)",
                },
                "appSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Switchboard-Signature",
                    "description": "with X-Switchboard-App and X-Switchboard-Timestamp: docs/mobile.md",
                },
            }
        },
        "paths": {
            "/healthz": {"get": {"summary": "the process is up", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {
                "get": {
                    "summary": "ready to answer",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not yet"}},
                }
            },
            "/api/messages": {
                "post": {
                    "summary": "ask, for a user your back end names",
                    "security": [{"bearer": []}],
                    "requestBody": _json(_MESSAGE),
                    "responses": {
                        "200": _reply("the reply"),
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "413": _ERROR,
                        "421": _ERROR,
                        "429": _ERROR,
                    },
                }
            },
            "/api/actions": {
                "post": {
                    "summary": "click a reply's button",
                    "security": [{"bearer": []}],
                    "requestBody": _json(_ACTION),
                    "responses": {
                        "200": _reply("the reply to the click"),
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "421": _ERROR,
                    },
                }
            },
            "/api/escalations": {
                "get": {
                    "summary": "the hand-over queue, oldest first (docs/handover.md)",
                    "security": [{"agentBearer": []}],
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"enum": ["open", "claimed", "resolved"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 500}},
                    ],
                    "responses": {
                        "200": {"description": "{escalations: [records]}"},
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                    },
                }
            },
            "/api/escalations/{escalation_id}": {
                "get": {
                    "summary": "one hand-over: what was said before it (earlier) and while an agent held it (messages)",
                    "security": [{"agentBearer": []}],
                    "parameters": [
                        {"name": "escalation_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "user_id", "in": "query", "required": True, "schema": _ID},
                    ],
                    "responses": {
                        "200": {"description": "the record and messages"},
                        "401": _ERROR,
                        "403": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            **{
                f"/api/escalations/{{escalation_id}}/{step}": {
                    "post": {
                        "summary": summary,
                        "security": [{"agentBearer": []}],
                        "parameters": [
                            {"name": "escalation_id", "in": "path", "required": True, "schema": {"type": "string"}}
                        ],
                        "requestBody": _json(
                            {
                                "type": "object",
                                "required": ["user_id", "agent"],
                                "properties": {"user_id": _ID, "agent": {"type": "string"}},
                            }
                        ),
                        "responses": {
                            "200": {"description": "the record"},
                            "401": _ERROR,
                            "403": _ERROR,
                            "404": _ERROR,
                            "409": _ERROR,
                        },
                    }
                }
                for step, summary in (
                    ("claim", "an agent takes a hand-over (409 when someone else has)"),
                    ("resolve", "its claimer marks it resolved: the assistant answers the customer again"),
                )
            },
            "/api/escalations/{escalation_id}/replies": {
                "post": {
                    "summary": "an agent's reply, sent to the customer in the conversation that was handed over",
                    "security": [{"agentBearer": []}],
                    "parameters": [
                        {
                            "name": "escalation_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        },
                        {"name": "Idempotency-Key", "in": "header", "schema": _ID},
                    ],
                    "requestBody": _json(
                        {
                            "type": "object",
                            "required": ["user_id", "agent", "text"],
                            "properties": {
                                "user_id": _ID,
                                "agent": {"type": "string", "description": "who answers (the claim's owner)"},
                                "text": {"type": "string"},
                                "agent_name": {"type": "string", "description": "the name the customer sees"},
                                "reply_id": _ID,
                            },
                        }
                    ),
                    "responses": {
                        "201": {"description": "{status: delivered, reply_id, channel, claimed}"},
                        "200": {"description": "{status: duplicate, …}: sent before under this reply id"},
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "404": _ERROR,
                        "409": _ERROR,
                        "413": _ERROR,
                        "422": _ERROR,
                        "502": _ERROR,
                        "503": _ERROR,
                    },
                }
            },
            "/api/session": {
                "post": {
                    "summary": "a signed session for the web widget (named: with the API token; anonymous: {})",
                    "security": [{"bearer": []}, {}],
                    "requestBody": _json(
                        {
                            "type": "object",
                            "properties": {"user_id": _ID, "ttl_s": {"type": "integer", "minimum": 60}},
                        }
                    ),
                    "responses": {
                        "200": {"description": "{token, user_id, expires_at}"},
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                    },
                },
                "options": {
                    "summary": "CORS preflight for pages in web.allowed_origins",
                    "responses": {"204": {"description": "allowed"}, "403": _ERROR},
                },
            },
            "/ws": {
                "get": {
                    "summary": "the widget's WebSocket: hello with a session token, then JSON frames (docs/web.md)",
                    "responses": {
                        "101": {"description": "switching protocols"},
                        "400": _ERROR,
                        "403": _ERROR,
                        "429": _ERROR,
                        "503": _ERROR,
                    },
                }
            },
            "/widget.js": {
                "get": {"summary": "the embeddable chat widget", "responses": {"200": {"description": "JavaScript"}}}
            },
            "/": {"get": {"summary": "a demo page with the widget", "responses": {"200": {"description": "HTML"}}}},
            "/mobile/v1/messages": {"post": _mobile_post("a user's message, from the app's back end", _MESSAGE)},
            "/mobile/v1/actions": {"post": _mobile_post("a button click or feedback", _ACTION)},
            "/mobile/v1/devices": {
                "post": {
                    "summary": "register a push token",
                    "security": _SIGNED,
                    "requestBody": _json(device),
                    "responses": {"201": {"description": "registered"}, "400": _ERROR, "401": _ERROR, "409": _ERROR},
                },
                "delete": {
                    "summary": "remove a push token",
                    "security": _SIGNED,
                    "requestBody": _json(device),
                    "responses": {"200": {"description": "removed or not there"}, "401": _ERROR},
                },
            },
            "/mobile/v1/conversations/{conversation_id}/messages": {
                "get": {
                    "summary": "a conversation's replies (the user's own, in this app)",
                    "security": _SIGNED,
                    "parameters": [
                        {"name": "conversation_id", "in": "path", "required": True, "schema": _ID},
                        {"name": "user_id", "in": "query", "required": True, "schema": _ID},
                    ],
                    "responses": {"200": {"description": "the replies, oldest first"}, "401": _ERROR},
                }
            },
            "/webhooks/orders": {
                "post": {
                    "summary": "an order changed: the customer is told (docs/tools.md)",
                    "requestBody": _json(
                        {
                            "type": "object",
                            "required": ["event_id", "type", "order_id", "customer_id"],
                            "properties": {
                                "event_id": {"type": "string"},
                                "type": {"enum": sorted(NOTICE_KINDS)},
                                "order_id": {"type": "string"},
                                "customer_id": {"type": "string"},
                                "estimated_delivery": {"type": "string", "format": "date"},
                            },
                        }
                    ),
                    "responses": {
                        "200": {"description": "delivered, logged or duplicate"},
                        "401": _ERROR,
                        "409": _ERROR,
                    },
                }
            },
        },
    }


def add_openapi_route(app: web.Application, version: str) -> None:
    served = document(version)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(served)

    app.router.add_get("/openapi.json", openapi)
