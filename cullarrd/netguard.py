"""Base-URL safety for integrations (SPEC §4.2): scheme, host and the configured allow-lists.

Checked when the config is loaded and again before each sync, because DNS answers can change.
Messages never echo the URL itself (it may carry credentials), only its host.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from cullarrd.config import SecurityConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_base_url(url: str, security: SecurityConfig) -> str | None:
    """Return a plain problem message if ``url`` may not be used as an integration base URL."""
    problem = url_shape_problem(url)
    if problem is not None:
        return problem
    host = urlsplit(url.strip()).hostname or ""
    return host_problem(
        host, security.allowed_integration_hosts, security.allowed_integration_networks
    )


def url_shape_problem(url: str) -> str | None:
    """Structural checks: http(s), a host, a valid port, no credentials, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return "must be a valid URL with a valid port"
    if parts.scheme.lower() not in {"http", "https"}:
        return "must be http or https"
    if not parts.hostname:
        return "must include a host"
    if not port_ok:
        return "must be a valid URL with a valid port"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials (use api_key, api_key_file or api_key_env)"
    if parts.query or parts.fragment or url.strip().endswith(("?", "#")):
        return "must not contain a query or fragment"
    return None


def host_problem(
    host: str, host_patterns: tuple[str, ...], networks: tuple[str, ...]
) -> str | None:
    """Apply the allow-lists to one host; both empty means every host is allowed."""
    if not host_patterns and not networks:
        return None
    host = host.lower().rstrip(".")
    if any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in host_patterns):
        return None
    refusal = f"host '{host}' is not in security.allowed_integration_hosts/networks"
    if not networks:
        return refusal
    addresses = resolve(host)
    if not addresses:
        return f"{refusal} (it does not resolve)"
    allowed = [ipaddress.ip_network(net, strict=False) for net in networks]
    outside = [addr for addr in addresses if not any(addr in net for net in allowed)]
    if len(outside) == len(addresses):
        return refusal
    if outside:
        # Fail closed: a name that also resolves outside the allowed ranges could be steered there.
        return f"{refusal} (it also resolves to {outside[0]})"
    return None


def resolve(host: str) -> list[IPAddress]:
    """The addresses of ``host``: an IP literal as is, a name through DNS (empty if none)."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        addr = parse_ip(str(info[4][0]))
        if addr is not None and addr not in found:
            found.append(addr)
    return found


def parse_ip(text: str) -> IPAddress | None:
    """An IP address (v4, v6, v4-mapped v6 folded to v4) or None when ``text`` is not one."""
    try:
        addr = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr
