"""Stages: `.gitmodel` parsing (`stages`), running them (`runner`), the pre-commit hook, metrics.

May import `git` and `store` (atomic writes, pointers); never model, filter,
transfer, commands or cli.
"""
