"""`git model completion SHELL`: click's shell completion, plus for bash the `_git_model`
function git's own completion calls for `git model <TAB>`."""
from __future__ import annotations

import click

# git-completion.bash completes `git model …` with `_git_model` when one is defined; it
# sets `words`/`cword` for the whole git line. click's function wants `git-model …`.
_BASH_BRIDGE = """
_git_model() {
    local COMP_WORDS=(git-model "${words[@]:2}") COMP_CWORD=$((cword - 1))
    _git_model_completion git-model
}
"""


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell code that completes `git model …` and `git-model …` commands and options.

    \b
    Example:
      eval "$(git model completion bash)"     # in ~/.bashrc (zsh: ~/.zshrc, zsh)
      git model completion fish > ~/.config/fish/completions/git-model.fish
    """
    from click.shell_completion import get_completion_class
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # click knows the three choices
    source = cls(root, {}, "git-model", "_GIT_MODEL_COMPLETE").source()
    click.echo(source + (_BASH_BRIDGE if shell == "bash" else ""))
