"""The outbound URL guard: which addresses a user's URL may lead to, and a request that goes only to
the address that was vetted. Names resolve through stubs; every connection goes to loopback."""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reelstack.errors import InvalidInput
from reelstack.netguard import Guard, RequestFailed, Target, send

NAMES = {
    "hooks.example.com": ["93.184.215.14"],
    "v6.example.com": ["2606:4700::6810:84e5"],
    "localhost": ["127.0.0.1", "::1"],
    "internal.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "mixed.example.com": ["93.184.215.14", "192.168.0.7"],  # one private answer is enough to refuse
    "2130706433": ["127.0.0.1"],  # what getaddrinfo makes of 127.0.0.1 written as one number
}
asked: list[str] = []


def stub(host: str, port: int) -> list[str]:
    asked.append(host)
    return NAMES.get(host, [])


REFUSED = [
    "http://127.0.0.1/hook",
    "https://127.0.0.1/hook",
    "https://10.0.0.1/hook",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # shared address space (carrier NAT)
    "https://169.254.169.254/latest/meta-data/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    "https://[::1]/",
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fd00:ec2::254]/",  # the metadata service over IPv6
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::127.0.0.1]/",  # IPv4-compatible
    "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "https://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
    "https://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo
    "https://localhost/",
    "https://internal.example.com/",
    "https://metadata.example.com/",
    "https://mixed.example.com/",
    "https://2130706433/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_special_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Guard(resolver=stub).vet(url)
    assert refused.value.code == "UnsafeUrl"


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/", "https://user:password@hooks.example.com/", "https:///no-host", "javascript:x",
     "https://hooks.example.com:99999/", "https://" + "a" * 2100 + ".com/", "https://nowhere.example.com/"],
)  # fmt: skip
def test_what_is_not_a_usable_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Guard(resolver=stub).vet(url)
    assert refused.value.code in ("InvalidUrl", "UnresolvableHost")


def test_a_public_url_is_vetted_with_the_address_to_connect_to() -> None:
    target = Guard(resolver=stub).vet("https://hooks.example.com/reelstack?team=7")
    assert target == Target("https", "hooks.example.com", 443, "/reelstack?team=7", "93.184.215.14")
    assert target.host_header == "hooks.example.com"
    assert Guard(resolver=stub).vet("https://v6.example.com:8443/").address == "2606:4700::6810:84e5"
    assert Guard(resolver=stub).vet("https://93.184.215.14/").host == "93.184.215.14"


def test_a_literal_address_is_never_looked_up() -> None:
    asked.clear()
    for url in ("https://93.184.215.14/", "https://[2606:4700::1]/"):
        Guard(resolver=stub).vet(url)
    with pytest.raises(InvalidInput):
        Guard(resolver=stub).vet("https://10.0.0.1/")
    assert asked == []


def test_the_development_switch_allows_loopback_and_nothing_else() -> None:
    guard = Guard(allow_loopback=True, resolver=stub)
    assert guard.vet("http://127.0.0.1:8080/hook").address == "127.0.0.1"
    assert guard.vet("https://[::1]/").address == "::1"
    assert guard.vet("http://localhost:9000/").address == "127.0.0.1"
    for url in (
        "https://10.0.0.1/",
        "https://169.254.169.254/",
        "http://hooks.example.com/",
        "https://mixed.example.com/",
    ):
        with pytest.raises(InvalidInput) as refused:
            guard.vet(url)
        assert refused.value.code == "UnsafeUrl", url


class _Answers(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.seen.append({"host": self.headers["host"], "path": self.path, "body": body})
        if self.path == "/slow":
            time.sleep(2)
        status = 302 if self.path == "/redirect" else 200
        self.send_response(status)
        if status == 302:
            self.send_header("location", "http://169.254.169.254/")
        payload = b"x" * 10_000
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Answers,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_the_request_goes_to_the_vetted_address_under_the_name_and_reads_a_capped_body(
    server: tuple[int, list[dict[str, Any]]],
) -> None:
    port, seen = server
    target = Target("http", "hooks.example.com", port, "/in?x=1", "127.0.0.1")  # the name never resolved
    answer = send(target, "POST", b"{}", {"Content-Type": "application/json"}, timeout=5, max_body_bytes=1024)
    assert (answer.status, len(answer.body)) == (200, 1024)
    assert seen == [{"host": f"hooks.example.com:{port}", "path": "/in?x=1", "body": b"{}"}]


def test_redirects_are_answers_not_followed(server: tuple[int, list[dict[str, Any]]]) -> None:
    port, seen = server
    answer = send(Target("http", "127.0.0.1", port, "/redirect", "127.0.0.1"), "POST", b"", {}, 5, 100)
    assert answer.status == 302 and len(seen) == 1


def test_no_answer_in_time_is_a_failed_request(server: tuple[int, list[dict[str, Any]]]) -> None:
    port, _ = server
    with pytest.raises(RequestFailed):
        send(Target("http", "127.0.0.1", port, "/slow", "127.0.0.1"), "POST", b"", {}, timeout=0.3, max_body_bytes=10)


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def test_tls_goes_to_the_vetted_address_with_the_names_sni_and_certificate(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "hooks.example.com")
    names: list[str | None] = []
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    served.sni_callback = lambda sock, name, context: names.append(name)
    seen: list[dict[str, Any]] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Answers,), {"seen": seen}))
    httpd.socket = served.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        target = Target("https", "hooks.example.com", httpd.server_address[1], "/", "127.0.0.1")
        assert send(target, "POST", b"{}", {}, timeout=5, max_body_bytes=10, context=trusting).status == 200
        assert names == ["hooks.example.com"] and seen[0]["host"].startswith("hooks.example.com:")
        # The same server under another name: the certificate does not match, nothing is sent.
        other = Target("https", "other.example.com", httpd.server_address[1], "/", "127.0.0.1")
        with pytest.raises(RequestFailed, match=r"CERTIFICATE|certificate|match"):
            send(other, "POST", b"{}", {}, timeout=5, max_body_bytes=10, context=trusting)
        assert len(seen) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()
