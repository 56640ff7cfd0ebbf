"""What core (which stores webhook policies) and the jobservice (which delivers them) agree on: Harbor's
event types, target types and payload formats, and the SSRF guard: a target whose address resolves to
loopback, link-local (the cloud metadata address among them), private, unspecified, multicast or reserved
space is refused unless the configuration key `webhook_target_allowlist` names its host, its address or a
range holding it. Checked when a policy is stored and again before every delivery (a name may resolve
elsewhere by then)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

# Harbor's webhook event types (GET /projects/{p}/webhook/events), in its order. Its chart events are gone
# with ChartMuseum (Harbor 2.8): a Helm chart is an OCI artifact, pushed, pulled and deleted as one. The
# SCANNING_* types are reserved: Berth has no scanner yet, so nothing sends them.
EVENT_TYPES = (
    "DELETE_ARTIFACT",
    "PULL_ARTIFACT",
    "PUSH_ARTIFACT",
    "QUOTA_EXCEED",
    "QUOTA_WARNING",
    "REPLICATION",
    "SCANNING_FAILED",
    "SCANNING_STOPPED",
    "SCANNING_COMPLETED",
    "TAG_RETENTION",
)
NOTIFY_TYPES = ("http", "slack")
PAYLOAD_FORMATS = {"http": ("Default", "CloudEvents"), "slack": ("Default",)}
SCHEMES = ("http", "https")
MAX_ADDRESS = 2048


class TargetRefused(ValueError):
    """A target the guard does not let a delivery go to; the message says why, for a 400 or a task log."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def allows(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return host.lower() in self.hosts or any(address in net for net in self.networks)


def parse_allowlist(text: str) -> Allowlist:
    """`webhook_target_allowlist`: host names, addresses and CIDR ranges, separated by commas or spaces.
    ValueError naming the first entry that is none of them."""
    hosts, networks = set(), []
    for entry in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not _is_host_name(entry):
            raise ValueError(f"{entry[:100]!r} is no host name, address or CIDR range")
        hosts.add(entry.lower().rstrip("."))
    return Allowlist(frozenset(hosts), tuple(networks))


def check_allowlist(text: str) -> None:
    parse_allowlist(text)


def _is_host_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-") for label in labels
    )


def target_host(address: str) -> tuple[str, int]:
    """The host and port of a target address; TargetRefused when it is no http(s) URL with a host."""
    if not isinstance(address, str) or not address or len(address) > MAX_ADDRESS:
        raise TargetRefused(f"the address must be an http or https URL of at most {MAX_ADDRESS} characters")
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the address {address[:200]!r} does not parse: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise TargetRefused(f"the address {address[:200]!r} must use http or https, not {parts.scheme or 'no scheme'}")
    if not parts.hostname:
        raise TargetRefused(f"the address {address[:200]!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the address must not hold credentials: use auth_header")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of internal address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _internal(address.ipv4_mapped)
    for kind, test in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local, the metadata range among it", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if test:
            return kind
    return None


async def check_target(address: str, allowlist: Allowlist) -> list[str]:
    """The addresses `address`'s host resolves to, when every one is public or allowed; TargetRefused
    otherwise (one that does not resolve too), naming the host, the address and the key that would allow it."""
    host, port = target_host(address)
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        resolved = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"the host {host[:200]} does not resolve: {exc.strerror or exc}") from None
        resolved = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for ip in resolved:
        kind = _internal(ip)
        if kind is not None and not allowlist.allows(host, ip):
            raise TargetRefused(
                f"the host {host[:200]} resolves to {ip} ({kind}): add it to webhook_target_allowlist to allow it"
            )
    return sorted({str(ip) for ip in resolved})
