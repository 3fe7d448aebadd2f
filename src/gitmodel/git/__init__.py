"""Git: the `git` binary (`repo`), the index file, pkt-line, attributes, the cache of a repo.

May import `store` (pointers; `cache.open_store`) and the top-level `errors`;
never model, filter, transfer, pipeline, commands or cli.
"""
