"""The clean/smudge filter: git's long-running filter process and the one-shot filters.

May import `git` and `store`. Fetching a missing object is passed in by the caller
(`FetcherFactory`), so the filter never imports transfer, commands or cli.
"""
