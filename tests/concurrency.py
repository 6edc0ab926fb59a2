"""Running calls at once, each in its own thread and database connection (PostgreSQL tests)."""

import threading

from django.db import connections


def run_concurrently(calls) -> list:
    """Run each call in its own thread (and database connection), all released at once; their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # reported by the assertion on the results
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results
