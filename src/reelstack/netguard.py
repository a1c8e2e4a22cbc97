"""Outbound requests to addresses users give us (webhook endpoints; the URL uploads reuse it): no SSRF.

A URL is vetted before any connection is opened: ``https`` only, no credentials in it, and every
address its host resolves to must be public. Refused: loopback, private (RFC 1918, ULA), link-local
(the cloud metadata service at 169.254.169.254 and fd00:ec2::254 among them), shared (100.64/10),
unspecified, multicast, reserved and documentation ranges, and IPv6 forms that carry an IPv4
address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) whose IPv4 address is any of these.

The request then goes to the address that was vetted, never to a second lookup of the name (a name
that answers a public address to the check and a private one to the connection is the classic DNS
rebinding): the socket connects to the vetted IP, with the ``Host`` header and TLS SNI (and the
certificate check) set to the name. ``send`` (webhooks) follows no redirect (a 3xx is just an answer)
and caps what it reads of a body; ``open_following`` (uploads from a URL) follows at most
MAX_REDIRECTS, vetting every hop's URL as the first before any connection to it, and hands back the
answer to stream.

The resolver is injectable: tests pass a stub (a real lookup would send a packet off this machine).
The development switch ``allow_loopback`` (template parameter AllowLoopbackUrls, on in the local
cloud the tests deploy) also allows loopback addresses, over http too: a receiver on this machine.
It allows nothing else.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from reelstack.config import deployment
from reelstack.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP addresses as text

MAX_URL_LENGTH = 2048
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo): every address of ``host``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise InvalidInput(f"the host {host!r} does not resolve", code="UnresolvableHost") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]  # the client's address
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # ::a.b.c.d (:: and ::1 are themselves)
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_loopback(address: Address) -> bool:
    inner = embedded_ipv4(address)
    return address.is_loopback or (inner is not None and inner.is_loopback)


def is_public(address: Address) -> bool:
    """Whether ``address`` is one anyone on the internet reaches (and no IPv4 it carries is not)."""
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    inner = embedded_ipv4(address)
    return inner is None or is_public(inner)


@dataclass(frozen=True)
class Target:
    """A vetted URL: where to connect (``address``) and what to call it (``host``, for Host and SNI)."""

    scheme: str
    host: str
    port: int
    path: str  # with its query
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class Guard:
    allow_loopback: bool = False
    resolver: Resolver = system_resolver

    def vet(self, url: str) -> Target:
        """``url`` if it may be fetched, with the address to connect to; InvalidInput (code
        ``UnsafeUrl``, ``InvalidUrl`` or ``UnresolvableHost``) naming why not. Nothing is sent
        anywhere but to the resolver."""
        if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
            raise InvalidInput(f"a URL of at most {MAX_URL_LENGTH} characters", code="InvalidUrl")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise InvalidInput(f"not a URL: {error}", code="InvalidUrl") from error
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("https", "http") or not host:
            raise InvalidInput("the URL must be https://host/...", code="InvalidUrl")
        if parts.username is not None or parts.password is not None:
            raise InvalidInput("the URL must not carry a user name or password", code="InvalidUrl")
        port = port or (443 if parts.scheme == "https" else 80)
        addresses = self._addresses(host, port)
        for address in addresses:
            if not (is_public(address) or (self.allow_loopback and is_loopback(address))):
                raise InvalidInput(f"{url[:200]!r} leads to {address}, which is not a public address", code="UnsafeUrl")
        if parts.scheme == "http" and not (self.allow_loopback and all(is_loopback(a) for a in addresses)):
            raise InvalidInput("the URL must be https (http only to this machine, in development)", code="UnsafeUrl")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(parts.scheme, host, port, path, str(addresses[0]))

    def _addresses(self, host: str, port: int) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]  # a literal address: nothing to resolve
        except ValueError:
            pass
        if "%" in host or not all(part.isascii() for part in host):
            raise InvalidInput(f"not a host name: {host[:100]!r}", code="InvalidUrl")
        found = self.resolver(host, port)
        if not found:
            raise InvalidInput(f"the host {host!r} does not resolve", code="UnresolvableHost")
        try:
            return [ipaddress.ip_address(text.split("%", 1)[0]) for text in found]
        except ValueError as error:
            raise InvalidInput(f"the host {host!r} resolves to something odd", code="UnresolvableHost") from error


_default_resolver: list[Resolver] = [system_resolver]


def guard(resolver: Resolver | None = None) -> Guard:
    """The deployment's guard (its development switch), with ``resolver`` or the default one."""
    return Guard(deployment().allow_loopback_urls, resolver or _default_resolver[0])


def use_resolver(resolver: Resolver) -> Resolver:
    """Make ``resolver`` the default (tests: a stub, so that no name is ever looked up); the previous one."""
    previous, _default_resolver[0] = _default_resolver[0], resolver
    return previous


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most the cap asked for
    latency_ms: int


class RequestFailed(Exception):
    """No answer: refused, reset, a TLS or certificate failure, or past the time allowed."""


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the vetted address, with SNI and the certificate check for the name."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.address, target.port, timeout=timeout, context=context)
        self._target = target
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._target.address, self._target.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._target.host)


def _connection(target: Target, timeout: float, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, timeout, context or ssl.create_default_context())
    return http.client.HTTPConnection(target.address, target.port, timeout=timeout)


MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Opened:
    """A GET's answer after its redirects: its final URL, status and headers; read it, then close it."""

    url: str
    response: http.client.HTTPResponse
    connection: http.client.HTTPConnection

    @property
    def status(self) -> int:
        return self.response.status

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def read(self, size: int) -> bytes:
        try:
            return self.response.read(size)
        except (OSError, http.client.HTTPException) as error:
            raise RequestFailed(f"{type(error).__name__}: {error}"[:300]) from error

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_following(
    guard: Guard,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    max_redirects: int = MAX_REDIRECTS,
    context: ssl.SSLContext | None = None,
) -> Opened:
    """GET ``url``, following at most ``max_redirects`` redirects; each hop's URL is vetted (resolved,
    every address public) before anything connects to it, and the request goes to the vetted address.
    ``timeout`` bounds each connect and read. InvalidInput (``UnsafeUrl``, ``TooManyRedirects``, ...)
    when a hop may not be fetched; RequestFailed when one does not answer."""
    for hop in range(max_redirects + 1):
        try:
            target = guard.vet(url)
        except InvalidInput as refusal:
            if hop == 0:
                raise
            raise InvalidInput(f"after a redirect: {refusal.message}", code=refusal.code) from refusal
        connection = _connection(target, timeout, context)
        try:
            connection.request("GET", target.path, headers={**headers, "Host": target.host_header})
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise RequestFailed(f"{type(error).__name__}: {error}"[:300]) from error
        location = response.getheader("Location")
        if response.status not in _REDIRECTS or not location:
            return Opened(url, response, connection)
        connection.close()
        url = urljoin(url, location)
    raise InvalidInput(f"more than {max_redirects} redirects", code="TooManyRedirects")


def send(
    target: Target,
    method: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    max_body_bytes: int,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """One request to a vetted target; the answer's first ``max_body_bytes`` (the rest is not read).
    :class:`RequestFailed` if there is no complete answer within ``timeout`` seconds in all."""
    started = time.monotonic()
    connection = _connection(target, timeout, context)
    try:
        connection.request(method, target.path, body=body, headers={**headers, "Host": target.host_header})
        response = connection.getresponse()
        read = response.read(max_body_bytes)
        elapsed = time.monotonic() - started
    except (OSError, http.client.HTTPException) as error:
        raise RequestFailed(f"{type(error).__name__}: {error}"[:300]) from error
    finally:
        connection.close()
    if elapsed > timeout:
        raise RequestFailed(f"no answer within {timeout:g} s")
    return Answer(response.status, read, round(elapsed * 1000))
