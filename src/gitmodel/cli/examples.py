"""An example for every command's help (and so its man page), kept apart from the
command definitions: several people edit cli/main.py, and one table is easy to keep whole.
A command whose docstring already has an example keeps its own."""
from __future__ import annotations

import click

EXAMPLES: dict[str, str] = {
    "": "git model install                  # once per machine, as git lfs install\n"
        "git model track '*.safetensors' && git add -A && git commit -m 'add model'\n"
        "git model help push",
    "checkout": "git model checkout                 # write every model left as a pointer\n"
                "git model checkout models/a.safetensors",
    "diff": "git model diff HEAD~1 -- model.safetensors",
    "fetch": "git model fetch origin main         # objects only; the work tree is untouched\n"
             "git model fetch -I 'models/*'",
    "fsck": "git model fsck --repair",
    "gc": "git model gc --dry-run",
    "get": "git model get https://example.com/team/repo.git v1.0 model.safetensors -o model.safetensors",
    "log": "git model log -n 5 model.safetensors",
    "ls-files": "git model ls-files HEAD~3",
    "metrics": "git model metrics HEAD~1 HEAD",
    "migrate": "git model migrate info --everything --above 10MB\n"
               "git model migrate import --everything --include='*.safetensors'",
    "migrate export": "git model migrate export --everything --include='*.safetensors'",
    "migrate import": "git model migrate import --everything --include='*.safetensors'",
    "migrate info": "git model migrate info --everything --above 10MB",
    "plot": "git model plot accuracy loss -o metrics.png",
    "prune": "git model prune --dry-run --recent-days 14",
    "pull": "git model pull                     # fetch and write the models of HEAD\n"
            "git model pull -I 'models/small/*'",
    "push": "git model push                     # the default model remote, objects of HEAD\n"
            "git model push --all --dry-run",
    "remote": "git model remote add shared s3://bucket/models\n"
              "git model remote list",
    "remote add": "git model remote add shared s3://bucket/models --check",
    "remote list": "git model remote list",
    "remote remove": "git model remote remove shared",
    "remote set-default": "git model remote set-default shared",
    "run": "git model run train               # one stage (local opt-in needed in a clone)",
    "show": "git model show HEAD~1:model.safetensors",
    "stages": "git model stages --json",
    "status": "git model status",
    "track": "git model track '*.safetensors' 'checkpoints/**'",
    "trust": "git model stages && git model trust   # read the commands first, then allow them",
    "untrack": "git model untrack '*.bin'",
    "version": "git model version",
}


def _append(command: click.Command, key: str) -> None:
    help_text = command.help or ""
    if key in EXAMPLES and "Example" not in help_text:
        lines = "\n".join("  " + line for line in EXAMPLES[key].splitlines())
        command.help = f"{help_text.rstrip()}\n\n\b\nExample:\n{lines}\n"


def add_examples(group: click.Group, words: tuple[str, ...] = ()) -> None:
    """Append the example block to the help of `group` and each subcommand that has none."""
    if not words:
        _append(group, "")
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        _append(command, " ".join([*words, name]))
        if isinstance(command, click.Group):
            add_examples(command, (*words, name))
