"""Where a webhook may point: the one address policy of the API (when a user sets a URL) and the sender
(at every delivery). Pure: the standard library and httpx's URL parser, no Dagster, no I/O but DNS.

A webhook URL is chosen by any user and fetched by the server, so it must not reach what only the server
can reach (server-side request forgery): loopback, private and shared networks, link-local addresses
(169.254.169.254 is the cloud metadata service), multicast, reserved and unspecified addresses, and the
same ranges embedded in IPv6 (IPv4-mapped, NAT64, 6to4, Teredo). Two checks:

1. ``check_url`` when the URL is set (and again before a delivery): http(s) only, https unless plain
   http is allowed (``DATA_MODE=simulated``), no user-info, an address written as the host (in any
   notation ``inet_aton`` accepts, e.g. ``127.1`` or ``2130706433``) must be public, and local-only
   names (``localhost``, ``*.internal``, single-label names...) are refused.
2. ``resolve`` at delivery: the host name is resolved once and *every* address it resolves to must be
   public; the sender then connects to that checked address (with the name as Host and TLS SNI), so a
   DNS answer that changes between the check and the connection (rebinding) reaches nothing new.

``WEBHOOK_ALLOWED_HOSTS`` (names, addresses or CIDR networks) admits internal hosts an operator trusts,
over http too. Refusals say why in words that name neither the URL's path nor its query (the secret).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "metadata"}
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".lan", ".intranet")
_LEGACY_IPV4 = set("0123456789abcdefxABCDEFX.")


class RefusedDestination(ValueError):
    """A webhook destination the policy does not admit; the message is safe to show and to log."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not receive a webhook, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return "a Teredo tunnel address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return refusal(embedded)
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (such as the cloud metadata service)"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for bad, reason in checks if bad), None)


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, in any notation a resolver accepts."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and set(host) <= _LEGACY_IPV4:
        try:  # 127.1, 0x7f.0.0.1, 2130706433: inet_aton's legacy forms resolve without DNS
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: what the sender connects to (scheme, host, port)."""

    scheme: str
    host: str  # lower-case; IDNA-encoded for names
    port: int
    address: IPAddress | None  # when the host is an IP literal
    allow_listed: bool


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_http: bool = False
    resolver: Any = field(default=socket.getaddrinfo, compare=False, repr=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str], *, allow_http: bool) -> DestinationPolicy:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks), allow_http)

    @classmethod
    def from_settings(cls, settings: Any) -> DestinationPolicy:
        # Plain http only against the sandbox (development); a live deployment sends over TLS.
        return cls.from_entries(settings.WEBHOOK_ALLOWED_HOSTS, allow_http=settings.DATA_MODE == "simulated")

    def _address_allowed(self, ip: IPAddress) -> bool:
        embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        return any(ip in net or (embedded is not None and embedded in net) for net in self.allowed_networks)

    def check_url(self, url: str) -> Target:
        """The static checks (no DNS): scheme, user-info, port, literal addresses and local-only names."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise RefusedDestination("not a valid URL") from None
        scheme = parsed.scheme.lower()
        if scheme not in ("http", "https"):
            raise RefusedDestination("the URL must be http(s)")
        if parsed.userinfo:
            raise RefusedDestination("credentials in the URL are not allowed")
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise RefusedDestination("the URL has no host")
        port = parsed.port or (443 if scheme == "https" else 80)
        address = _literal_address(host)
        allow_listed = host in self.allowed_names or (address is not None and self._address_allowed(address))
        if not allow_listed:
            if address is not None:
                reason = refusal(address)
                if reason is not None:
                    raise RefusedDestination(f"the host is {reason}")
            elif host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
                raise RefusedDestination(f"{host} is a local name, not a public host")
            if scheme != "https" and not self.allow_http:
                raise RefusedDestination("webhook URLs must use https")
        return Target(scheme, host, port, address, allow_listed)

    def resolve(self, target: Target) -> IPAddress:
        """The address to connect to: the literal, or the name resolved once, every answer checked.

        Raises ``RefusedDestination`` when any address is not admitted, ``OSError`` when the name does
        not resolve (a transient failure the sender may retry)."""
        if target.address is not None:
            return target.address
        infos = self.resolver(target.host, target.port, type=socket.SOCK_STREAM)
        addresses: list[IPAddress] = []
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
                if ip not in addresses:
                    addresses.append(ip)
        if not addresses:
            raise OSError(f"{target.host} has no address")
        if not target.allow_listed:
            for ip in addresses:
                if self._address_allowed(ip):
                    continue
                reason = refusal(ip)
                if reason is not None:
                    # Every address, not only the first: a name answering a public and a private
                    # address would otherwise reach the private one on a retry.
                    raise RefusedDestination(f"{target.host} resolves to {reason}")
        return addresses[0]


def masked(url: str | None) -> str | None:
    """A webhook URL as an admin may see it: scheme and host, the path (the credential) hidden."""
    if not url:
        return url
    try:
        parsed = httpx.URL(url)
        host = parsed.host or "?"
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<hidden>"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}/…"
