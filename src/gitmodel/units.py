"""Sizes for people: one formatter shared by every layer (status, diff, transfer progress)."""


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, word: str, many: str = "") -> str:
    """`1 chunk`, `2 chunks` (`many` for irregular plurals)."""
    return f"{count} {word if count == 1 else many or word + 's'}"
