"""`make bench`: run every benchmark on one core against a fresh test database, write bench/results/latest.json.

Uses DATABASE_URL when set (PostgreSQL), the embedded SQLite otherwise; the report names which.
"""

from __future__ import annotations

import os
import sys

# One core, one BLAS thread: the figures are for a single worker process.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

from bench import experiments, personalization, prediction_serving, predictions, recommendations  # noqa: E402
from bench.harness import Report  # noqa: E402

BENCHMARKS = [recommendations, personalization, experiments, prediction_serving, predictions]


def main() -> int:
    only = set(sys.argv[1:])  # `python -m bench.run predictions` runs only the modules named
    selected = [m for m in BENCHMARKS if not only or m.__name__.rsplit(".", 1)[-1] in only]
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    report = Report()
    try:
        for module in selected:
            print(f"running {module.__name__} ...", flush=True)
            module.run(report)
    finally:
        teardown_databases(databases, verbosity=0)
    cache_backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    filename = f"partial-{'-'.join(sorted(only))}.json" if only else "latest.json"  # a subset never replaces the report
    path = report.write({"database": connection.vendor, "cache": cache_backend, "cores_used": 1}, filename=filename)
    print(report.table())
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
