"""One module per user verb (or small group): status, checkout, sync, fsck, gc, show, diff, ...

May import every layer below (filter, pipeline, transfer, model, git, store);
never `cli`. Modules here may import each other (sync uses checkout).
"""
