"""Remote address parsing, table-driven."""
from __future__ import annotations

import pytest

from hangar_git.errors import InvalidAddressError, RemoteError
from hangar_git.transport.address import RemoteAddress, parse_address

R = RemoteAddress
CASES = [
    ("ssh://host/srv/repo", R("ssh", "host", None, None, "/srv/repo")),
    ("ssh://alice@host:2222/srv/repo", R("ssh", "host", 2222, "alice", "/srv/repo")),
    ("ssh://host/", R("ssh", "host", None, None, "/")),
    ("ssh://host/~/repo", R("ssh", "host", None, None, "~/repo")),
    ("ssh://host/~bob/repo", R("ssh", "host", None, None, "~bob/repo")),
    ("ssh://host/a:b@c", R("ssh", "host", None, None, "/a:b@c")),
    ("ssh://[::1]:22/repo", R("ssh", "::1", 22, None, "/repo")),
    ("ssh://a.b@[fe80::1%eth0]/repo", R("ssh", "fe80::1%eth0", None, "a.b", "/repo")),
    ("SSH://host/repo", R("ssh", "host", None, None, "/repo")),
    ("git+ssh://host/repo", R("ssh", "host", None, None, "/repo")),
    ("host:repo", R("ssh", "host", None, None, "repo")),
    ("alice@host.example.com:team/repo", R("ssh", "host.example.com", None, "alice", "team/repo")),
    ("host:/abs/repo", R("ssh", "host", None, None, "/abs/repo")),
    ("host:~/repo", R("ssh", "host", None, None, "~/repo")),
    ("host:repo:with:colons", R("ssh", "host", None, None, "repo:with:colons")),
    ("alice@host:a@b", R("ssh", "host", None, "alice", "a@b")),
    ("[::1]:repo", R("ssh", "::1", None, None, "repo")),
    ("alice@[::1]:repo", R("ssh", "::1", None, "alice", "repo")),
    ("file:///srv/repo", R("file", None, None, None, "/srv/repo")),
    ("file://localhost/srv/repo", R("file", None, None, None, "/srv/repo")),
    ("file:///srv/my%20repo", R("file", None, None, None, "/srv/my repo")),
    ("file:///C:/repo", R("file", None, None, None, "C:/repo")),
    ("/srv/repo", R("file", None, None, None, "/srv/repo")),
    ("relative/repo", R("file", None, None, None, "relative/repo")),
    ("./host:repo", R("file", None, None, None, "./host:repo")),
    ("/srv/a:b", R("file", None, None, None, "/srv/a:b")),
    ("dir/a:b", R("file", None, None, None, "dir/a:b")),
    ("C:\\repos\\x", R("file", None, None, None, "C:\\repos\\x")),
    ("C:/repos/x", R("file", None, None, None, "C:/repos/x")),
    ("c:repo", R("file", None, None, None, "c:repo")),
    ("~/repo", R("file", None, None, None, "~/repo")),
    (":repo", R("file", None, None, None, ":repo")),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0] for c in CASES])
def test_parse(text: str, expected: RemoteAddress) -> None:
    assert parse_address(text) == expected


ERRORS = [
    ("", "empty remote address"),
    ("   ", "empty remote address"),
    ("https://host/repo", "unsupported scheme 'https'"),
    ("ssh://host", "no repository path"),
    ("ssh://host:0/repo", "bad port '0'"),
    ("ssh://host:99999/repo", "bad port '99999'"),
    ("ssh://host:abc/repo", "bad port 'abc'"),
    ("ssh://user:secret@host/repo", "passwords in addresses are not supported"),
    ("ssh:///repo", "bad host name ''"),
    ("ssh://-oProxyCommand=x/repo", "may not start with '-'"),
    ("-oProxyCommand=evil:repo", "may not start with '-'"),
    ("ssh://ho st/repo", "bad host name"),
    ("ssh://[::1/repo", "bad IPv6 host"),
    ("host:", "no repository path"),
    ("@host:repo", "bad user name"),
    ("file://otherhost/repo", "must name a local path"),
    ("ssh://host/repo\n", "control characters"),
]


@pytest.mark.parametrize("text, message", ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidAddressError, match=message) as info:
        parse_address(text)
    assert isinstance(info.value, RemoteError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("text, shown", [
    ("alice@host:team/x", "alice@host:team/x"),
    ("ssh://alice@host:2222/x", "ssh://alice@host:2222/x"),
    ("ssh://host/~/x", "ssh://host/~/x"),
    ("[::1]:repo", "[::1]:repo"),
    ("ssh://[::1]:22/repo", "ssh://[::1]:22/repo"),
    ("/srv/repo", "/srv/repo"),
], ids=["scp", "url", "home", "ipv6-scp", "ipv6-url", "local"])
def test_str_round_trips(text: str, shown: str) -> None:
    addr = parse_address(text)
    assert str(addr) == shown
    assert parse_address(str(addr)) == addr
    assert RemoteAddress.from_dict(addr.to_dict()) == addr


def test_relative_path_with_port_becomes_home_relative() -> None:
    addr = RemoteAddress("ssh", "host", 2222, None, "team/x")
    assert str(addr) == "ssh://host:2222/~/team/x"


def test_address_is_frozen() -> None:
    with pytest.raises(AttributeError):
        parse_address("host:repo").host = "other"  # type: ignore[misc]
