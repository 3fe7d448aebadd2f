"""Make the data set: y = a smooth non-linear function of 8 features, plus noise.

Generated with the standard library from a fixed seed, so every machine
writes the same bytes and nothing is downloaded.
"""
import math
import random
from pathlib import Path

FEATURES = 8


def row(rng: random.Random) -> list[float]:
    x = [rng.uniform(-1.0, 1.0) for _ in range(FEATURES)]
    y = math.sin(2 * x[0]) + x[1] * x[2] - 0.5 * x[3] ** 2 + 0.3 * x[4] + rng.gauss(0.0, 0.05)
    return x + [y]


def write(path: Path, rows: list[list[float]]) -> None:
    header = ",".join([f"x{i}" for i in range(FEATURES)] + ["y"])
    lines = [header] + [",".join(f"{v:.6f}" for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    rng = random.Random(1234)
    rows = [row(rng) for _ in range(1200)]
    Path("data").mkdir(exist_ok=True)
    write(Path("data/train.csv"), rows[:1000])
    write(Path("data/test.csv"), rows[1000:])
    print("wrote data/train.csv (1000 rows), data/test.csv (200 rows)")


if __name__ == "__main__":
    main()
