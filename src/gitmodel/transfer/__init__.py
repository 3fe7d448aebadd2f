"""Moving objects to and from model remotes: backends (`remotes`) and the engine (`engine`).

May import `git` (remote config), `store` and the top-level `errors`/`units`;
never filter, pipeline, commands or cli. fsspec loads only when a remote is opened.
"""
