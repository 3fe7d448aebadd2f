"""The store: chunks, manifests, the codec, chunking, the stat cache, atomic writes.

A library with no git and no CLI in it (the DVC `ObjectDB` habit): it may import
only the standard library, its own modules, `gitmodel.errors` and
`gitmodel.units`. Nothing is imported here, so `import gitmodel.store.atomic`
costs no zstandard or xxhash.
"""
