"""Changing remotes' configuration: `remote set-url` and `remote rename`, as git has them
(the remote-tracking branches and the upstreams that name a renamed remote follow it)."""
from __future__ import annotations

import os
import re
from typing import Optional

from ..bookkeeping.gitrepo import GitRepo, remote_ref
from ..core import upstream
from ..core.layout import HEADS, REMOTE_PREFIX, REMOTES, command_key, remote_key
from ..errors import InvalidAddressError, InvalidNameError, RemoteExistsError
from ..storage import is_uri
from ..transport.gitcmd import check_git_address, is_git_only_address

REMOTE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")


def data_url_setting(url: str, typed_in: str) -> str:
    """A data URL as saved and published: URIs as given, paths made absolute."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidNameError("empty data URL: give s3://bucket/prefix or a shared folder")
    return url if is_uri(url) else os.path.normpath(os.path.join(typed_in, os.path.expanduser(url)))


def check_new_name(git: GitRepo, name: str) -> None:
    """Refuse ``name`` for a new remote: malformed, taken, or the prefix of a local branch."""
    if not isinstance(name, str) or not REMOTE_NAME.match(name):
        raise InvalidNameError(f"invalid remote name {name!r}: use letters, digits, '.', '_' or '-'")
    if git.config_get(remote_key(name)) is not None:
        raise RemoteExistsError(name)
    shadowed = sorted(b for b in git.list_refs(HEADS) if b.startswith(name + "/"))
    if shadowed:
        raise InvalidNameError(
            f"invalid remote name {name!r}: local branch {shadowed[0]!r} would hide its "
            f"remote-tracking branches; rename that branch or pick another remote name")


def check_address(name: str, address: str, data_url: Optional[str]) -> None:
    """Refuse an empty address, or a malformed one for a git host."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidAddressError(f"remote {name!r} needs an address: a path, file://..., "
                                  f"ssh://[user@]host[:port]/path or user@host:path")
    if data_url is not None or is_git_only_address(address):
        check_git_address(address)


def set_url(git: GitRepo, name: str, address: str, data_url: Optional[str] = None) -> None:
    """Point existing remote ``name`` at ``address`` (and its data store at ``data_url``)."""
    check_address(name, address, data_url or git.config_get(remote_key(name, "data")))
    if data_url is not None:
        git.config_set(remote_key(name, "data"), data_url_setting(data_url, os.getcwd()))
    git.config_set(remote_key(name), address)


def _settings(git: GitRepo, name: str) -> dict[str, str]:
    """Field -> value of every ``hangar-remote.NAME.FIELD`` setting."""
    prefix = f"{REMOTE_PREFIX}{name}."
    return {key[len(prefix):]: value for key, value in git.config_items(prefix).items()
            if "." not in key[len(prefix):]}  # not those of a remote named NAME.something


def rename(git: GitRepo, old: str, new: str) -> None:
    """Rename remote ``old`` (which exists) to ``new``: its settings, remote-tracking branches
    and the upstreams of the branches that track it."""
    check_new_name(git, new)
    for field, value in _settings(git, old).items():
        git.config_set(remote_key(new, field), value)
        git.config_delete(remote_key(old, field))
    command = git.config_get(command_key(old))
    if command is not None:
        git.config_set(command_key(new), command)
        git.config_delete(command_key(old))
    for branch, oid in git.list_refs(f"{REMOTES}{old}/").items():
        git.set_ref(remote_ref(new, branch), oid)
        git.set_ref(remote_ref(old, branch), None)
    upstream.rename_remote(git, old, new)
