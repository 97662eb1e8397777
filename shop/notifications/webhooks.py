"""Signed webhooks: where a URL may point, how a body is signed, how it is sent.

Server-side request forgery is the danger: a webhook URL is a request our servers
make on a user's behalf. So a URL must be ``https`` to a public host, and *at every
delivery* its host is resolved and every address it resolves to must be a public
one (not loopback, private, link-local, multicast, reserved, unspecified, shared
address space …). The request then goes to the address we checked — the connection
is pinned to it, with the hostname still used for TLS (SNI and certificate check)
and the ``Host`` header — so a DNS answer that changes between the check and the
connect (DNS rebinding) cannot steer it inside our walls. Redirects are not followed.

Signature (Stripe's scheme): header ``X-Shop-Signature: t=<unix seconds>,v1=<hex>``
where ``hex = HMAC-SHA256(secret, "<t>." + body)``. The receiver recomputes it over
the raw body and refuses old timestamps (``webhook_signature_verify`` does both).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

SIGNATURE_HEADER = "X-Shop-Signature"
USER_AGENT = "groupbuy-shop-webhooks/1"
RESPONSE_BYTES_READ = 1024  # we only need the status; never buffer a hostile body
SIGNATURE_TOLERANCE_SECONDS = 300


class WebhookTargetRefused(Exception):
    """Final: this URL may never be called (wrong scheme, non-public address)."""


class WebhookTargetUnresolvable(Exception):
    """Transient: the host did not resolve now; try again later."""


@dataclass(frozen=True)
class WebhookTarget:
    hostname: str
    port: int
    path: str  # path and query, as sent in the request line
    ip: str  # the checked address the connection is pinned to

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return host if self.port == 443 else f"{host}:{self.port}"


@dataclass(frozen=True)
class _ParsedUrl:
    hostname: str
    port: int
    path: str


def _parse(url: str) -> _ParsedUrl:
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise WebhookTargetRefused("not a valid URL") from exc
    if parts.scheme.lower() != "https":
        raise WebhookTargetRefused("only https URLs are called")
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetRefused("credentials in the URL are not allowed")
    hostname = (parts.hostname or "").rstrip(".").lower()
    if not hostname:
        raise WebhookTargetRefused("the URL has no host")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _ParsedUrl(hostname=hostname, port=port, path=path)


def address_is_public(address: str) -> bool:
    """True only for a globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address in IPv6 clothing is judged as the IPv4 address it carries.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not address_is_public(str(embedded)):
            return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global  # shared address space (100.64/10), documentation ranges …
    )


def webhook_url_check(url: str) -> None:
    """At registration: https, no credentials, and not a literal non-public address or
    ``localhost``. (Names are resolved, and checked again, at each delivery.)"""
    parsed = _parse(url)
    if parsed.hostname == "localhost" or parsed.hostname.endswith(".localhost"):
        raise WebhookTargetRefused("loopback hosts are not allowed")
    if _is_ip_literal(parsed.hostname) and not address_is_public(parsed.hostname):
        raise WebhookTargetRefused("the URL points to a non-public address")
    # A name is resolved, and its addresses checked, at each delivery.


def _is_ip_literal(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def webhook_target_resolve(url: str) -> WebhookTarget:
    """Resolve the URL's host now and pin the first address, provided *every* address
    it resolves to is public (one private answer among public ones is refused too)."""
    parsed = _parse(url)
    if _is_ip_literal(parsed.hostname):
        addresses = [parsed.hostname]
    else:
        try:
            infos = socket.getaddrinfo(parsed.hostname, parsed.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise WebhookTargetUnresolvable(f"cannot resolve {parsed.hostname}: {exc}") from exc
        addresses = [info[4][0] for info in infos]
    if not addresses:
        raise WebhookTargetUnresolvable(f"{parsed.hostname} has no address")
    refused = [a for a in addresses if not address_is_public(a)]
    if refused:
        raise WebhookTargetRefused(f"{parsed.hostname} resolves to a non-public address ({refused[0]})")
    return WebhookTarget(hostname=parsed.hostname, port=parsed.port, path=parsed.path, ip=addresses[0])


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, now: int, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: recompute over the raw body, compare in constant time,
    refuse a timestamp older (or newer) than ``tolerance`` seconds (replays)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def webhook_post_pinned(
    *, target: WebhookTarget, body: bytes, headers: dict[str, str], timeout: float
) -> int:
    """POST ``body`` to the pinned address with TLS verified against the hostname.
    Returns the HTTP status. The one place our servers call a user's URL (the
    boundary tests replace). Raises ``urllib3`` / ``OSError`` errors on failure."""
    pool = urllib3.HTTPSConnectionPool(
        host=target.ip,
        port=target.port,
        server_hostname=target.hostname,  # SNI
        assert_hostname=target.hostname,  # certificate must name the host, not the IP
        cert_reqs="CERT_REQUIRED",
        timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
        retries=False,
        maxsize=1,
    )
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            response.read(RESPONSE_BYTES_READ)
        finally:
            response.release_conn()
        return response.status
    finally:
        pool.close()
