"""A product manager, in a real browser (the machine's Chromium, driven by Playwright), creates an experiment
in the admin, is told what is wrong with it, fixes it, starts it and reads its results."""

import os
import re

import pytest
from django.db import connections

from core.services import product_manager_group_ensure
from experiments.models import ABTestExperiment
from tests.conftest import chromium_path
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch, live_server):
    from playwright.sync_api import sync_playwright

    # The live server answers each request in a thread of its own: let each close its connection when done
    # (and close the browser, with its keep-alive connections, before the server stops),
    # or PostgreSQL keeps them and the test database cannot be dropped at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are not async code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context.new_page()
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    _close_request_threads_connections()


def _close_request_threads_connections() -> None:
    """A request thread of the live server can still hold its connection when the browser is gone (the
    last keep-alive request), and then the test database cannot be dropped at the end of the run."""
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def test_a_product_manager_creates_starts_and_reads_an_experiment(page, live_server):
    manager = UserFactory(username="pm", is_staff=True)
    manager.set_password("correct horse battery staple")
    manager.save()
    manager.groups.add(product_manager_group_ensure())
    requests_outside = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else requests_outside.append(r.url))

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "pm")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/experiments/abtestexperiment/add/")
    page.fill("#id_name", "Quality for quality-critical buyers")
    page.check("#id_segments_0")
    page.select_option("#id_variants-1-strategy", "quality_focused")
    page.fill("#id_variants-1-weight", "0.6")  # 0.5 + 0.6: the form says why it is refused
    page.click("input[name=_save]")

    assert page.locator(".errornote").first.inner_text() == "Please correct the errors below."
    assert "sum to 1" in page.locator("#variant-errors").inner_text()
    assert not ABTestExperiment.objects.exists()

    page.fill("#id_variants-1-weight", "0.5")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/experiments/abtestexperiment/\d+/change/$"))
    assert page.locator("#experiment-status").inner_text() == "Draft"

    page.goto(f"{live_server.url}/admin/experiments/abtestexperiment/")
    page.check("input.action-select")
    page.select_option("select[name=action]", "experiment_start")
    page.click("button[name=index]")
    assert "started" in page.locator("ul.messagelist").inner_text()
    assert ABTestExperiment.objects.get().status == "running"

    page.click("td.field-results_link a")
    assert page.locator("#winner").inner_text() == "Winner: none yet"
    assert page.locator("#chart-intervals svg").count() == 1
    assert page.locator("#chart-conversion svg").count() == 1
    assert "Control (control)" in page.locator("#variants").inner_text()
    assert requests_outside == []  # the pages and their charts need nothing from the internet
