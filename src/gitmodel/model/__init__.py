"""Model files: safetensors and torch readers, tensor diff and statistics.

May import `store` (cached versions are read chunk by chunk) and the top-level
`errors` and `units`; never git, filter, transfer, pipeline, commands or cli.
torch is imported by `torchfile` only, when a checkpoint is opened.
"""
