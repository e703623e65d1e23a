"""`git hangar completion bash|zsh`: shell completion scripts.

Both ask click's own completion (``_GIT_HANGAR_COMPLETE``) what fits, so
commands, options, choices, file names and the branch, column and remote names
of the repository (``complete_*`` in cli/common.py) complete as the
commands define them. Bash: git's completion calls ``_git_hangar`` for
``git hangar ...``; the script also completes ``git-hangar ...``. Zsh: git's
completion calls ``_git-hangar``. The scripts also ship under ``share/``
(bash-completion and zsh site-functions) with the package.
"""
from __future__ import annotations

import click

BASH = r'''# bash completion for git hangar (source this file, or put it in bash-completion's directory)
__git_hangar_ask() {
    local IFS=$'\n' line
    COMPREPLY=()
    for line in $(COMP_WORDS="$1" COMP_CWORD="$2" _GIT_HANGAR_COMPLETE=bash_complete git-hangar 2>/dev/null); do
        case "${line%%,*}" in
            file) COMPREPLY+=($(compgen -f -- "${line#*,}")) ;;
            dir) COMPREPLY+=($(compgen -d -- "${line#*,}")) ;;
            *) COMPREPLY+=("${line#*,}") ;;
        esac
    done
}
# `git hangar ...`: git's completion sets words and cword
_git_hangar() {
    __git_hangar_ask "git-hangar ${words[*]:2}" "$((cword - 1))"
}
# `git-hangar ...`
_git_hangar_direct() {
    __git_hangar_ask "${COMP_WORDS[*]}" "$COMP_CWORD"
}
complete -o default -F _git_hangar_direct git-hangar
'''

ZSH = r'''#compdef git-hangar
# zsh completion for git hangar (put it on $fpath as _git-hangar; git's completion calls it)
_git-hangar() {
    local -a reply
    local line shifted
    if [[ $words[1] == git ]]; then shifted=("git-hangar" "${(@)words[3,-1]}"); else shifted=("${(@)words}"); fi
    local cword=$(( ${#shifted} - 1 ))
    for line in "${(@f)$(COMP_WORDS="${shifted[*]}" COMP_CWORD=$cword _GIT_HANGAR_COMPLETE=bash_complete git-hangar 2>/dev/null)}"; do
        case ${line%%,*} in
            file|dir) _files; return ;;
            *) reply+=("${line#*,}") ;;
        esac
    done
    compadd -a reply
}
_git-hangar "$@"
'''

SCRIPTS = {"bash": BASH, "zsh": ZSH}


@click.command()
@click.argument("shell", type=click.Choice(sorted(SCRIPTS)))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash or zsh).

    \b
    bash:  source <(git hangar completion bash)     (e.g. in ~/.bashrc)
    zsh:   git hangar completion zsh > ~/.zfunc/_git-hangar; fpath+=~/.zfunc
    """
    click.echo(SCRIPTS[shell], nl=False)


COMMANDS = [completion]
