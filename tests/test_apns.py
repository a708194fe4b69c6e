"""iOS pushes through a local APNs fake that speaks only HTTP/2 over TLS (hypercorn, a self-signed
certificate on loopback): the provider token verifies with the key's public half, the payload has APNs'
shape, a 503 is retried and an unregistered token is removed."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config
from redis.asyncio import Redis

from bot.app import create_app
from bot.settings import ApnsConfig, FileConfig, MobileAppConfig, Settings
from memory.mobile import RedisDevices
from tests.conftest import environment, own_prefix, start_ready
from tests.test_mobile import SECRET, Phone, call, replies

APNS_KEY = ec.generate_private_key(ec.SECP256R1())
ENV = {
    "SB_TEST_MOBILE_SECRET": SECRET,
    "SB_TEST_APNS_KEY": APNS_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode(),
}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verified_claims(bearer: str) -> dict[str, Any]:
    header, claims, signature = bearer.removeprefix("bearer ").split(".")
    raw = _unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    APNS_KEY.public_key().verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
    assert json.loads(_unb64(header)) == {"alg": "ES256", "kid": "KEY123"}
    return dict(json.loads(_unb64(claims)))


@dataclass
class Apns:
    seen: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        token = scope["path"].removeprefix("/3/device/")
        self.attempts[token] = self.attempts.get(token, 0) + 1
        self.seen.append({"http": scope["http_version"], "token": token, "headers": headers, "body": json.loads(body)})
        status, answer = 200, b""
        if token.startswith("dead"):
            status, answer = 410, json.dumps({"reason": "Unregistered", "timestamp": 1}).encode()
        elif token.startswith("flaky") and self.attempts[token] == 1:
            status, answer = 503, json.dumps({"reason": "ServiceUnavailable"}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"apns-id", b"x")]})
        await send({"type": "http.response.body", "body": answer})


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def apns_env() -> Iterator[None]:
    with environment(ENV):
        yield


@pytest.fixture(scope="module")
async def iphone(
    settings: Settings, file_config: FileConfig, apns_env: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Phone, Apns]]:
    cert, key = self_signed(tmp_path_factory.mktemp("apns"))
    apns, port, stop = Apns(), free_port(), asyncio.Event()
    hyper = Config()
    hyper.bind = [f"127.0.0.1:{port}"]
    hyper.certfile, hyper.keyfile = str(cert), str(key)
    hyper.alpn_protocols = ["h2"]  # like APNs: HTTP/2 or nothing
    hyper.accesslog = hyper.errorlog = None
    serving = asyncio.create_task(serve(apns, hyper, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    config = own_prefix(file_config, "apns")
    mobile = config.mobile.model_copy(
        update={
            "apps": {"shop-app": MobileAppConfig(secret_env="SB_TEST_MOBILE_SECRET")},
            "apns": ApnsConfig(
                base_url=f"https://127.0.0.1:{port}",
                team_id="TEAM123",
                key_id="KEY123",
                key_env="SB_TEST_APNS_KEY",
                topic="com.example.shop",
                ca_file=cert,
                allow_private=True,
            ),
        }
    )
    config = config.model_copy(update={"mobile": mobile})
    server = await start_ready(create_app(settings, config))
    yield Phone(str(server.make_url("")).rstrip("/"), None, config), apns  # type: ignore[arg-type]
    await server.close()
    stop.set()
    await serving


async def test_an_iphone_gets_the_reply_over_http2_with_a_valid_provider_token(
    iphone: tuple[Phone, Apns], redis_url: str
) -> None:
    phone, apns = iphone
    user = f"i-{uuid.uuid4().hex[:6]}"
    for token in ("good-token-1", "flaky-token-1", "dead-token-1"):
        body = {"user_id": user, "platform": "ios", "token": token}
        assert (await call(phone, "POST", "/mobile/v1/devices", body))[0] == 201
    text = {"user_id": user, "conversation_id": "ios-1", "text": "do you take apple pay"}
    status, accepted = await call(phone, "POST", "/mobile/v1/messages", text, "key-ios-1")
    assert status == 202
    await replies(phone, user, "ios-1")
    for _ in range(100):  # the three devices are pushed one after another
        if apns.attempts.get("flaky-token-1", 0) >= 2 and apns.attempts.get("dead-token-1", 0) >= 1:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the dead token's removal follows its answer
    good = next(s for s in apns.seen if s["token"] == "good-token-1")
    assert good["http"] == "2"
    assert good["headers"]["apns-topic"] == "com.example.shop"
    assert good["headers"]["apns-push-type"] == "alert"
    assert verified_claims(good["headers"]["authorization"])["iss"] == "TEAM123"
    assert good["body"]["message_id"] == accepted["message_id"]
    assert good["body"]["aps"]["thread-id"] == "ios-1"
    assert good["body"]["aps"]["category"] == "SWITCHBOARD_REPLY"
    assert good["body"]["aps"]["alert"]["body"]
    assert apns.attempts["flaky-token-1"] == 2  # a 503, then delivered
    assert apns.attempts["dead-token-1"] == 1  # unregistered: not retried
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    devices = await RedisDevices(client, phone.config.memory.prefix).of("shop-app", user)
    await client.aclose()
    assert devices == {"good-token-1": "ios", "flaky-token-1": "ios"}
