"""Weight recovery over many worlds and loop seeds: how to judge a change to the learning.

One loop seed's median cosine after 10 choices moves by 0.01-0.015 (about 87 customers reach 10 choices), and a
gain on the bench's fixed lists need not carry over to the closed loop (README, "Personalization"). So a change to
the learning is judged by paired closed-loop runs: the bench's goal loop (`bench.personalization`: 100 customers x
60 orders on `LEARNING_WORLD`), once per WORLD:LOOP_SEED, on main's checkout and on the change's.

    python -m bench.recovery_sweep run base.jsonl 42:9 42:10 42:11 42:12 42:13 43:9 44:9 ... 52:9
    python -m bench.recovery_sweep run change.jsonl 42:9 ...     (the same runs, on the change's checkout)
    python -m bench.recovery_sweep compare base.jsonl change.jsonl

`run` loads each world afresh into a fresh test database (DATABASE_URL, as `make bench`), fits the segment priors
and runs the personalized loop; it appends one JSON line per run as it finishes (about a minute each). `compare`
pairs the runs by world and loop seed: the mean gain in the median cosine after 10 choices, its standard error and
t, and the mean relative change of the expected conversion. State the rule for adopting the change before the runs;
the sessions of 2026-12-06 used: a mean paired gain of at least 2 standard errors, at no more than 0.5 % less
expected conversion.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRACKED = (1, 10, 25, 50)


@dataclass(frozen=True)
class Comparison:
    pairs: int
    mean_gain: float  # in the median cosine after `at` choices, change minus base
    sd: float  # of the per-pair gains
    standard_error: float
    t: float
    up: int
    equal: int
    down: int
    conversion_change: float  # mean of change / base - 1 of the expected conversion


def paired_comparison(base: Sequence[dict], change: Sequence[dict], *, at: int = 10) -> Comparison:
    """The runs of `change` against those of `base` with the same world and loop seed (rows as `run` writes them)."""
    before = {_run_key(row): row for row in base}
    paired = [(before[_run_key(row)], row) for row in change if _run_key(row) in before]
    if len(paired) < 2:
        raise ValueError("a comparison needs at least two runs in both files with the same world and loop seed")
    gains = np.array([b["cosine"][str(at)] - a["cosine"][str(at)] for a, b in paired])
    conversion = np.array([b["expected_conversion"] / a["expected_conversion"] - 1 for a, b in paired])
    sd = float(gains.std(ddof=1))
    standard_error = sd / math.sqrt(len(gains))
    mean = float(gains.mean())
    return Comparison(
        pairs=len(gains),
        mean_gain=mean,
        sd=sd,
        standard_error=standard_error,
        t=_t(mean, standard_error),
        up=int((gains > 0).sum()),
        equal=int((gains == 0).sum()),
        down=int((gains < 0).sum()),
        conversion_change=float(conversion.mean()),
    )


def _run_key(row: dict) -> tuple[int, int]:
    return row["world"], row["loop_seed"]


def _t(mean: float, standard_error: float) -> float:
    """The t statistic; infinite, of the mean's sign, when every pair gained the same non-zero amount."""
    if standard_error > 0:
        return mean / standard_error
    return math.copysign(math.inf, mean) if mean else 0.0


def _parse_runs(specs: Sequence[str]) -> list[tuple[int, int]]:
    runs = []
    for spec in specs:
        world, _, seed = spec.partition(":")
        if not (world.isdigit() and seed.isdigit()):
            raise SystemExit(f"a run is WORLD_SEED:LOOP_SEED, like 42:9; got {spec!r}")
        runs.append((int(world), int(seed)))
    return runs


def _commit() -> str:
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def run(out: Path, runs: list[tuple[int, int]]) -> None:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from dataclasses import replace

    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    from bench.personalization import LEARNING_WORLD, _medians, personalized_loop

    commit = _commit()
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        for world_seed, loop_seed in runs:
            config = replace(LEARNING_WORLD, seed=world_seed)
            result = personalized_loop(config, seed=loop_seed, track_cosine_at=TRACKED)
            row = {
                "world": world_seed,
                "loop_seed": loop_seed,
                "cosine": {str(n): v for n, v in _medians(result.cosines).items()},
                "reached": {str(n): len(v) for n, v in result.cosines.items()},
                "expected_conversion": result.expected_conversion_rate,
                "commit": commit,
            }
            with out.open("a") as file:
                file.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    finally:
        teardown_databases(databases, verbosity=0)


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 3 and argv[0] == "run":
        run(Path(argv[1]), _parse_runs(argv[2:]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        base, change = _read(Path(argv[1])), _read(Path(argv[2]))
        result = paired_comparison(base, change)
        print(
            f"{result.pairs} pairs: mean gain after 10 choices {result.mean_gain:+.4f} (sd {result.sd:.4f}, "
            f"standard error {result.standard_error:.4f}, t {result.t:.2f}; {result.up} up, {result.equal} equal, "
            f"{result.down} down); expected conversion {100 * result.conversion_change:+.2f} %"
        )
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
