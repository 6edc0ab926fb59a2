"""The staff-only experiments API: create, list the active ones, start, stop and read the results."""

import copy
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from experiments import stats
from experiments.models import ABTestExperiment, ExperimentSnapshot, ExposureEvent, Variant
from experiments.services import experiment_create, experiment_pause, experiment_start, experiment_stop
from marketplace.models import CustomerAccount
from tests.conftest import token_client
from tests.factories import UserFactory

BASE = "/api/v1/advanced-personalization/experiments"
UNSET = object()

VALID = {
    "name": "quality first",
    "description": "Does ranking by quality convert better?",
    "experiment_type": "ab_test",
    "variants": [
        {"key": "control", "name": "Balanced", "weight": 0.5, "is_control": True, "config": {"strategy": "balanced"}},
        {
            "key": "quality",
            "name": "Quality focused",
            "weight": 0.5,
            "config": {"strategy": "quality_focused", "parameters": {"exploration_temperature": 0.05}},
        },
    ],
    "coverage": 0.5,
    "targeting": {"segments": ["quality_critical"], "regions": ["western_europe"], "min_order_value": 1000},
    "namespace": "ranking",
    "namespace_start": 0.0,
    "namespace_end": 0.5,
    "minimum_sample_size": 500,
    "minimum_effect_size": 0.1,
    "confidence_level": 0.9,
}


def body_with(path: str, value) -> dict:
    """VALID with the dotted `path` set to `value` (or removed when value is UNSET)."""
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is UNSET:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def two_variants() -> list[dict]:
    return [
        {"key": "v0", "weight": 0.5, "is_control": True, "config": {"strategy": "balanced"}},
        {"key": "v1", "weight": 0.5, "config": {"strategy": "quality_focused"}},
    ]


def experiment(name: str = "api", **options) -> ABTestExperiment:
    return experiment_create(name=name, variants=options.pop("variants", two_variants()), **options)


def counters(exp: ABTestExperiment, *rows) -> None:
    for variant, (n, conversions) in zip(exp.variants.order_by("position"), rows):
        Variant.objects.filter(pk=variant.pk).update(participants=n, conversions=conversions)


# --- POST experiments ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_create_a_draft_experiment_with_its_variants(staff_client, staff_user):
    end = timezone.now() + timedelta(days=30)

    response = staff_client.post(BASE, {**VALID, "planned_end_date": end.isoformat()}, format="json")

    assert response.status_code == 201
    created = ABTestExperiment.objects.get()
    body = response.json()
    variant_ids = list(created.variants.order_by("position").values_list("id", flat=True))
    assert body == {
        "id": created.pk,
        "name": "quality first",
        "description": "Does ranking by quality convert better?",
        "experiment_type": "ab_test",
        "status": "draft",
        "status_reason": "",
        "coverage": 0.5,
        "targeting": {"segments": ["quality_critical"], "regions": ["western_europe"], "min_order_value": 1000.0},
        "namespace": "ranking",
        "namespace_start": 0.0,
        "namespace_end": 0.5,
        "start_date": None,
        "planned_end_date": end.isoformat().replace("+00:00", "Z"),
        "actual_end_date": None,
        "primary_metric": "conversion_rate",
        "minimum_sample_size": 500,
        "minimum_effect_size": 0.1,
        "confidence_level": 0.9,
        "minimum_runtime_days": 7.0,
        "guardrail_metrics": [],
        "analysis_method": "sequential",
        "cuped": True,
        "created_by": staff_user.pk,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "variants": [
            {
                "id": variant_ids[0],
                "key": "control",
                "name": "Balanced",
                "position": 0,
                "is_control": True,
                "weight": 0.5,
                "config": {"strategy": "balanced", "parameters": {}},
                "participants": 0,
                "conversions": 0,
                "revenue_sum": 0.0,
                "conversion_rate": None,
            },
            {
                "id": variant_ids[1],
                "key": "quality",
                "name": "Quality focused",
                "position": 1,
                "is_control": False,
                "weight": 0.5,
                "config": {"strategy": "quality_focused", "parameters": {"exploration_temperature": 0.05}},
                "participants": 0,
                "conversions": 0,
                "revenue_sum": 0.0,
                "conversion_rate": None,
            },
        ],
    }
    assert created.created_by == staff_user


@pytest.mark.django_db
def test_the_minimal_experiment_takes_the_defaults(staff_client):
    response = staff_client.post(BASE, {"name": "minimal", "variants": two_variants()}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("experiment_type", "coverage", "targeting", "namespace", "confidence_level")} == {
        "experiment_type": "ab_test",
        "coverage": 1.0,
        "targeting": {},
        "namespace": "",
        "confidence_level": 0.95,
    }
    assert (body["minimum_sample_size"], body["minimum_effect_size"]) == (100, 0.05)
    assert [v["name"] for v in body["variants"]] == ["v0", "v1"]  # the key when no name is given


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("variants.1.config.strategy", "fastest", "variants.1.config.strategy"),
        ("variants.1.config.parameters", {"depth": 2}, "variants.1.config.parameters.depth"),
        (
            "variants.1.config.parameters",
            {"exploration_temperature": 0.5},
            "variants.1.config.parameters.exploration_temperature",
        ),
        (
            "variants.1.config.parameters",
            {"exploration_temperature": "NaN"},
            "variants.1.config.parameters.exploration_temperature",
        ),
        ("variants.1.config.colour", "red", "variants.1.config.colour"),
        ("variants.1.config", "quality_focused", "variants.1.config.non_field_errors"),
        ("variants.1.weight", 0.6, "variants"),
        ("variants.1.weight", "NaN", "variants.1.weight"),
        ("variants.1.weight", True, "variants.1.weight"),
        ("variants.1.weight", "half", "variants.1.weight"),
        ("variants.1.weight", UNSET, "variants.1.weight"),
        ("variants.1.is_control", True, "variants"),
        ("variants.1.key", "control", "variants"),
        ("variants.1.key", "not a slug", "variants.1.key"),
        ("variants.1.colour", "red", "variants.1.colour"),
        ("variants", [VALID["variants"][0] | {"weight": 1.0}], "variants"),
        ("variants", [], "variants"),
        ("variants", "control,quality", "variants.non_field_errors"),
        ("planned_end_date", "2020-01-01T00:00:00Z", "planned_end_date"),
        ("planned_end_date", "next week", "planned_end_date"),
        ("coverage", 1.5, "coverage"),
        ("coverage", "NaN", "coverage"),
        ("coverage", "Infinity", "coverage"),
        ("namespace_start", 0.5, "namespace_start"),
        ("confidence_level", 0.5, "confidence_level"),
        ("minimum_sample_size", "500", "minimum_sample_size"),
        ("minimum_sample_size", 1.5, "minimum_sample_size"),
        ("minimum_effect_size", -0.1, "minimum_effect_size"),
        ("experiment_type", "multivariate", "experiment_type"),
        ("analysis_method", "peek", "analysis_method"),
        ("cuped", 1, "cuped"),
        ("cuped", "yes", "cuped"),
        ("guardrail_metrics", ["revenue"], "guardrail_metrics.0"),
        ("targeting", "everyone", "targeting.non_field_errors"),
        ("targeting.segments", ["whales"], "targeting.segments.0"),
        ("targeting.complexity_levels", ["trivial"], "targeting.complexity_levels"),
        ("targeting.max_order_value", 10, "targeting.max_order_value"),
        ("targeting.continent", "europe", "targeting.continent"),
        ("name", UNSET, "name"),
        ("name", "", "name"),
        ("colour", "red", "colour"),
    ],
)
def test_every_invalid_input_is_a_400_naming_the_field(staff_client, path, value, field):
    response = staff_client.post(BASE, body_with(path, value), format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert field in body["extra"]["fields"], body
    assert not ABTestExperiment.objects.exists()


@pytest.mark.django_db
def test_the_message_of_an_unknown_strategy_lists_the_accepted_ones(staff_client):
    response = staff_client.post(BASE, body_with("variants.1.config.parameters", {"depth": 2}), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Unknown parameter 'depth'; the engine accepts exploration_temperature.",
        "extra": {
            "fields": {
                "variants.1.config.parameters.depth": [
                    "Unknown parameter 'depth'; the engine accepts exploration_temperature."
                ]
            }
        },
    }


@pytest.mark.django_db
def test_weights_that_do_not_sum_to_one_are_refused(staff_client):
    response = staff_client.post(BASE, body_with("variants.1.weight", 0.6), format="json")

    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("weights must sum to 1")
    assert response.json()["extra"] == {"fields": {"variants": [message]}}


@pytest.mark.django_db
def test_a_name_in_use_is_refused(staff_client):
    experiment(name="quality first")

    response = staff_client.post(BASE, VALID, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "An experiment of this name exists.",
        "extra": {"fields": {"name": ["An experiment of this name exists."]}},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{"name": "x", "coverage": NaN}',
            "JSON parse error - Out of range float values are not JSON compliant: 'NaN'",
        ),
        ('{"name": "x", "coverage": Infinity}', "JSON parse error"),
        ('{"name": "x"', "JSON parse error"),
    ],
)
def test_json_that_is_not_json_is_a_400(staff_client, raw, message):
    response = staff_client.post(BASE, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert response.json()["extra"] == {}


@pytest.mark.django_db
def test_a_number_too_large_for_a_float_is_named(staff_client):
    raw = json.dumps(VALID).replace('"coverage": 0.5', '"coverage": 1e999')

    response = staff_client.post(BASE, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"coverage": ["A valid number is required."]}


@pytest.mark.django_db
def test_a_body_that_is_not_an_object_is_refused(staff_client):
    response = staff_client.post(BASE, [VALID], format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid data. Expected a dictionary, but got list.",
        "extra": {"fields": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}},
    }


# --- GET experiments/active ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_active_lists_the_running_and_paused_experiments_with_their_live_counters(staff_client):
    experiment(name="draft")
    running = experiment_start(experiment=experiment(name="running"))
    paused = experiment_pause(experiment=experiment_start(experiment=experiment(name="paused")))
    experiment_stop(experiment=experiment_start(experiment=experiment(name="stopped")))
    counters(running, (120, 12), (118, 15))

    response = staff_client.get(f"{BASE}/active")

    assert response.status_code == 200
    body = response.json()
    assert [(e["name"], e["status"]) for e in body] == [("running", "running"), ("paused", "paused")]
    assert [e["id"] for e in body] == [running.pk, paused.pk]
    live = [(v["key"], v["participants"], v["conversions"], v["conversion_rate"]) for v in body[0]["variants"]]
    assert live == [("v0", 120, 12, 0.1), ("v1", 118, 15, 15 / 118)]
    assert [v["participants"] for v in body[1]["variants"]] == [0, 0]


@pytest.mark.django_db
def test_active_is_an_empty_list_without_active_experiments(staff_client):
    experiment(name="draft")

    response = staff_client.get(f"{BASE}/active")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.django_db
def test_active_costs_the_same_queries_for_one_or_many_experiments(staff_client):
    experiment_start(experiment=experiment(name="one"))
    with CaptureQueriesContext(connection) as one:
        assert staff_client.get(f"{BASE}/active").status_code == 200
    for i in range(5):
        experiment_start(experiment=experiment(name=f"more {i}"))
    with CaptureQueriesContext(connection) as six:
        assert len(staff_client.get(f"{BASE}/active").json()) == 6

    assert len(six) == len(one)


# --- POST experiments/{id}/start and stop --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_lifecycle_through_the_api(staff_client, staff_user):
    exp = experiment()

    started = staff_client.post(f"{BASE}/{exp.pk}/start")
    again = staff_client.post(f"{BASE}/{exp.pk}/start")
    stopped = staff_client.post(f"{BASE}/{exp.pk}/stop", {"reason": "enough data"}, format="json")
    stopped_again = staff_client.post(f"{BASE}/{exp.pk}/stop")

    assert started.status_code == 200
    assert started.json()["status"] == "running"
    assert started.json()["status_reason"] == f"started by {staff_user}"
    assert started.json()["start_date"] is not None
    assert started.json()["variants"][0]["key"] == "v0"
    assert again.status_code == 400
    assert again.json() == {
        "message": "An experiment that is running cannot become running.",
        "extra": {"status": "running", "fields": {"status": ["An experiment that is running cannot become running."]}},
    }
    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["status_reason"]) == (
        "stopped",
        f"stopped by {staff_user}: enough data",
    )
    assert stopped.json()["actual_end_date"] is not None
    assert stopped_again.status_code == 400
    assert stopped_again.json()["message"] == "An experiment that is stopped cannot become stopped."
    assert ABTestExperiment.objects.get().status == "stopped"


@pytest.mark.django_db
def test_a_paused_experiment_resumes_and_a_draft_cannot_be_stopped(staff_client):
    paused = experiment_pause(experiment=experiment_start(experiment=experiment(name="paused")))
    draft = experiment(name="draft")

    resumed = staff_client.post(f"{BASE}/{paused.pk}/start")
    refused = staff_client.post(f"{BASE}/{draft.pk}/stop", {"reason": "never mind"}, format="json")

    assert (resumed.status_code, resumed.json()["status"]) == (200, "running")
    assert refused.status_code == 400
    assert refused.json()["message"] == "An experiment that is draft cannot become stopped."
    assert ABTestExperiment.objects.get(pk=draft.pk).status == "draft"


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["start", "stop"])
def test_a_lifecycle_body_is_checked(staff_client, action):
    exp = experiment()

    unknown = staff_client.post(f"{BASE}/{exp.pk}/{action}", {"why": "x"}, format="json")
    too_long = staff_client.post(f"{BASE}/{exp.pk}/{action}", {"reason": "x" * 501}, format="json")

    assert unknown.status_code == 400
    assert unknown.json() == {
        "message": "Invalid input: why: Unknown field.",
        "extra": {"fields": {"why": ["Unknown field."]}},
    }
    assert too_long.status_code == 400
    assert "reason" in too_long.json()["extra"]["fields"]
    assert ABTestExperiment.objects.get().status == "draft"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix"), [("post", "start"), ("post", "stop"), ("get", "results")])
@pytest.mark.parametrize("experiment_id", [424242, 2**63, 10**30])
def test_an_unknown_experiment_is_a_404(staff_client, method, suffix, experiment_id):
    response = getattr(staff_client, method)(f"{BASE}/{experiment_id}/{suffix}")

    assert response.status_code == 404
    assert response.json() == {"message": "No such experiment.", "extra": {}}


# --- GET experiments/{id}/results ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_results_are_the_analysis_computed_now_with_the_numbers_of_the_stats_module(staff_client):
    exp = experiment_start(experiment=experiment(minimum_sample_size=1000, minimum_effect_size=0.05))
    counters(exp, (1000, 100), (1000, 200))

    response = staff_client.get(f"{BASE}/{exp.pk}/results")

    assert response.status_code == 200
    body = response.json()
    control, treatment = stats.ProportionStats(1000, 100), stats.ProportionStats(1000, 200)
    expected = stats.frequentist_test(control, treatment, alpha=0.05, sequential_tuning=5000)
    bayes = stats.bayesian_test(control, treatment)
    lift = body["comparisons"][0]["conversion_rate"]
    assert lift == {
        "effect": pytest.approx(expected.effect),
        "ci_low": pytest.approx(expected.ci_low),
        "ci_high": pytest.approx(expected.ci_high),
        "p_value": pytest.approx(expected.p_value),
        "p_value_adjusted": pytest.approx(expected.p_value),
        "standard_error": pytest.approx(expected.standard_error),
        "significant": True,
        "chance_to_win": pytest.approx(bayes.chance_to_win),
        "risk_control": pytest.approx(bayes.risk_control),
        "risk_treatment": pytest.approx(bayes.risk_treatment),
        "power_at_minimum_effect": lift["power_at_minimum_effect"],
        "reason": None,
    }
    assert {k: body[k] for k in ("experiment_id", "status", "method", "sequential_tuning", "participants")} == {
        "experiment_id": exp.pk,
        "status": "running",
        "method": "sequential",
        "sequential_tuning": 5000,
        "participants": 2000,
    }
    assert [(v["key"], v["conversion_rate"]) for v in body["variants"]] == [("v0", 0.1), ("v1", 0.2)]
    assert body["srm"] == {"p_value": 1.0, "checked": True, "mismatch": False, "reason": None}
    assert body["timing"]["minimum_sample_reached"] is True
    assert body["winner"] == "v1"
    assert not ExperimentSnapshot.objects.filter(experiment=exp).exists()  # a read: beat's runs are the snapshots
    assert body["estimation"] == {"conversion_rate": "pooled", "reason": None, "cuped": body["estimation"]["cuped"]}
    assert body["estimation"]["cuped"]["applied"] is False  # no pre-period conversions to adjust with


@pytest.mark.django_db
def test_results_at_a_fixed_horizon_on_request(staff_client):
    exp = experiment()
    counters(exp, (1000, 100), (1000, 130))

    body = staff_client.get(f"{BASE}/{exp.pk}/results", {"method": "fixed_horizon"}).json()

    expected = stats.frequentist_test(stats.ProportionStats(1000, 100), stats.ProportionStats(1000, 130))
    assert (body["method"], body["sequential_tuning"]) == ("fixed_horizon", None)
    assert body["comparisons"][0]["conversion_rate"]["ci_low"] == pytest.approx(expected.ci_low)


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [({"method": "bayesian"}, "method"), ({"days": "3"}, "days")])
def test_results_refuse_an_unknown_method_or_parameter(staff_client, query, field):
    exp = experiment()

    response = staff_client.get(f"{BASE}/{exp.pk}/results", query)

    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not ExperimentSnapshot.objects.exists()


@pytest.mark.django_db
def test_results_of_an_experiment_without_participants_are_nulls_not_errors(staff_client):
    exp = experiment()

    response = staff_client.get(f"{BASE}/{exp.pk}/results")

    assert response.status_code == 200
    body = response.json()
    assert body["reason"] == "No participants yet."
    assert body["winner"] is None
    assert body["variants"][0]["conversion_rate"] is None
    assert body["comparisons"][0]["conversion_rate"]["effect"] is None
    assert body["comparisons"][0]["conversion_rate"]["reason"] == (
        "Undefined: the control arm needs at least 2 units, got 0."
    )
    assert body["timing"]["reason"] == "Not started yet."


@pytest.mark.django_db
def test_results_with_three_variants_report_holm_adjusted_p_values(staff_client):
    variants = [
        {"key": "v0", "weight": 0.4, "is_control": True, "config": {"strategy": "balanced"}},
        {"key": "v1", "weight": 0.3, "config": {"strategy": "quality_focused"}},
        {"key": "v2", "weight": 0.3, "config": {"strategy": "cost_focused"}},
    ]
    exp = experiment(variants=variants)
    counters(exp, (2000, 200), (1500, 190), (1500, 170))

    body = staff_client.get(f"{BASE}/{exp.pk}/results").json()

    raw = [row["conversion_rate"]["p_value"] for row in body["comparisons"]]
    adjusted = [row["conversion_rate"]["p_value_adjusted"] for row in body["comparisons"]]
    assert adjusted == pytest.approx(list(stats.adjust_p_values(raw, "holm")))


def customers(count: int, offset: int) -> list[CustomerAccount]:
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"bulk{offset + i}") for i in range(count)])
    return CustomerAccount.objects.bulk_create(
        [
            CustomerAccount(
                user=user,
                company_name=f"Bulk {offset + i}",
                industry="industrial_machinery",
                company_size="medium",
                region="western_europe",
                segment="balanced",
            )
            for i, user in enumerate(users)
        ]
    )


def exposures(exp: ABTestExperiment, people: list[CustomerAccount]) -> None:
    variants = list(exp.variants.order_by("position"))
    ExposureEvent.objects.bulk_create(
        [
            ExposureEvent(event_id=f"exposure:{exp.pk}:{c.pk}", experiment=exp, variant=variants[i % 2], customer=c)
            for i, c in enumerate(people)
        ]
    )


@pytest.mark.django_db
def test_results_cost_a_constant_number_of_queries_whatever_the_number_of_events(staff_client):
    exp = experiment_start(experiment=experiment())
    counters(exp, (500_000, 50_000), (500_000, 51_000))  # a million customers, as the counters have them
    exposures(exp, customers(50, offset=0))
    with CaptureQueriesContext(connection) as few:
        first = staff_client.get(f"{BASE}/{exp.pk}/results")
    exposures(exp, customers(450, offset=50))

    with CaptureQueriesContext(connection) as many:
        second = staff_client.get(f"{BASE}/{exp.pk}/results")

    assert ExposureEvent.objects.filter(experiment=exp).count() == 500
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["participants"] == 1_000_000
    assert len(many) == len(few)
    assert len(many) <= 10
    assert not any("exposureevent" in q["sql"].lower() or "conversionevent" in q["sql"].lower() for q in many)


@pytest.mark.django_db
def test_results_stay_within_a_fixed_query_budget(staff_client, django_assert_max_num_queries):
    exp = experiment()
    counters(exp, (1000, 100), (1000, 120))

    with django_assert_max_num_queries(10):
        assert staff_client.get(f"{BASE}/{exp.pk}/results").status_code == 200


# --- permissions ---------------------------------------------------------------------------------------------

ENDPOINTS = [
    ("post", ""),
    ("get", "/active"),
    ("post", "/{id}/start"),
    ("post", "/{id}/stop"),
    ("get", "/{id}/results"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
def test_customers_are_forbidden(api_client, method, suffix):
    exp = experiment()

    response = getattr(api_client, method)(
        BASE + suffix.format(id=exp.pk), VALID if suffix == "" else None, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may do this.", "extra": {}}
    assert ABTestExperiment.objects.get().status == "draft"
    assert ABTestExperiment.objects.count() == 1
    assert not ExperimentSnapshot.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
def test_users_without_staff_rights_are_forbidden(method, suffix):
    exp = experiment()

    response = getattr(token_client(UserFactory()), method)(BASE + suffix.format(id=exp.pk))

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff may do this.", "extra": {}}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
def test_anonymous_callers_are_asked_to_authenticate(anonymous_client, method, suffix):
    exp = experiment()

    response = getattr(anonymous_client, method)(BASE + suffix.format(id=exp.pk))

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}
    assert ABTestExperiment.objects.get().status == "draft"
