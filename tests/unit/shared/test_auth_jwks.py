"""Production verification: tokens signed by an OIDC issuer, checked against its published keys."""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.auth import Authenticator, Role
from shared.errors import Unauthenticated
from shared.settings import ServiceSettings

ISSUER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    public = json.loads(RSAAlgorithm.to_jwk(ISSUER_KEY.public_key()))
    body = json.dumps(
        {"keys": [{**public, "kid": "issuer-1", "use": "sig", "alg": "RS256"}]}
    ).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def issued(private_key: rsa.RSAPrivateKey, **claims: object) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": "secretariat-amsterdam",
        "roles": ["secretariat"],
        "iss": "https://id.example.org",
        "aud": "partnership",
        "exp": now + timedelta(minutes=5),
        **claims,
    }
    return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": "issuer-1"})


def authenticator(jwks_url: str) -> Authenticator:
    return Authenticator(
        ServiceSettings(
            jwt_jwks_url=jwks_url, jwt_issuer="https://id.example.org", jwt_audience="partnership"
        )
    )


async def test_a_token_signed_by_the_issuer_is_accepted_with_its_roles(jwks_url: str) -> None:
    principal = await authenticator(jwks_url).verify(issued(ISSUER_KEY))

    assert principal.subject == "secretariat-amsterdam"
    assert principal.roles == {Role.SECRETARIAT}


async def test_a_token_signed_by_another_key_is_refused(jwks_url: str) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(Unauthenticated):
        await authenticator(jwks_url).verify(issued(stranger))


async def test_a_token_for_another_audience_is_refused(jwks_url: str) -> None:
    with pytest.raises(Unauthenticated):
        await authenticator(jwks_url).verify(issued(ISSUER_KEY, aud="someone-else"))
