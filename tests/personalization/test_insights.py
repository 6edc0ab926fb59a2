import itertools
import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone
from scipy import stats as scipy_stats

from experiments.stats import ProportionStats, SampleStats, frequentist_test
from marketplace.vocabulary import FACTORS
from personalization.insights import (
    MIN_ARM_SESSIONS,
    FunnelFigures,
    InsightFigures,
    StrategyFigures,
    TimeToMatch,
    insight_sentences,
)
from personalization.models import Interaction, RecommendationSession, SessionOutcome
from personalization.selectors import insights_get
from tests.conftest import token_client
from tests.factories import UserFactory

URL = "/api/v1/advanced-personalization/insights"
SHOWN = (101, 102, 103)
_events = itertools.count(1)


def add_session(
    customer,
    algorithm: str = "segment_prior",
    *,
    created_at=None,
    viewed: list[int] | None = None,
    chosen: bool = False,
    converted: bool | None = None,
    satisfaction: int | None = None,
    converted_after_hours: float | None = 24.0,
    decision_seconds: float | None = None,
    interaction_data: dict | None = None,
) -> RecommendationSession:
    """A session with what came of it: an interaction (views, a choice) and an outcome, as given."""
    created_at = created_at or timezone.now() - timedelta(days=1)
    session = RecommendationSession.objects.create(
        customer=customer,
        order_context={"process": "cnc_machining"},
        algorithm_used=algorithm,
        optimization_goal="balanced",
        weights=dict(zip(FACTORS, [1 / 6] * 6)),
        weights_version="test",
        candidates=[
            {"manufacturer_id": m, "rank": rank, "region": "western_europe", "features": {}}
            for rank, m in enumerate(SHOWN, 1)
        ],
        created_at=created_at,
    )
    data = dict(interaction_data or {})
    if viewed is not None:
        data["viewed_manufacturer_ids"] = viewed
    if decision_seconds is not None:
        data["time_to_decision_seconds"] = decision_seconds
    if data or chosen:
        Interaction.objects.create(
            customer=customer,
            session=session,
            event_id=f"event-{next(_events)}",
            interaction_data=data,
            chosen_manufacturer_id=SHOWN[0] if chosen else None,
            chosen_rank=1 if chosen else None,
            time_to_decision_seconds=decision_seconds,
            created_at=created_at + timedelta(minutes=5),
        )
    if converted is not None:
        SessionOutcome.objects.create(
            session=session,
            manufacturer_id=SHOWN[0],
            converted=converted,
            contract_value=Decimal("1000") if converted else None,
            satisfaction=satisfaction,
            converted_at=created_at + timedelta(hours=converted_after_hours)
            if converted and converted_after_hours is not None
            else None,
        )
    return session


def add_sessions(customer, algorithm: str, n: int, conversions: int, ratings: tuple[int, ...] = ()) -> None:
    """`n` sessions, the first `conversions` of them chosen and converted, the first of those rated."""
    assert len(ratings) <= conversions <= n
    for i in range(n):
        converted = i < conversions
        add_session(
            customer,
            algorithm,
            chosen=converted,
            viewed=list(SHOWN) if converted else None,
            converted=True if converted else None,
            satisfaction=ratings[i] if i < len(ratings) else None,
        )


def t_interval(mean: float, variance: float, n: int) -> tuple[float, float]:
    half = scipy_stats.t.ppf(0.975, n - 1) * math.sqrt(variance / n)
    return mean - half, mean + half


def ratings_stats(values) -> SampleStats:
    return SampleStats(n=len(values), sum=float(sum(values)), sum_squares=float(sum(v * v for v in values)))


def comparison(result) -> dict:
    return {
        "effect": pytest.approx(result.effect, abs=1e-6),
        "ci_low": pytest.approx(result.ci_low, abs=1e-6),
        "ci_high": pytest.approx(result.ci_high, abs=1e-6),
        "p_value": pytest.approx(result.p_value, abs=1e-6),
        "significant": result.significant,
    }


def without_period(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "period"}


# --- performance: personalized against the others ----------------------------------------------------------


@pytest.mark.django_db
def test_insights_compare_personalized_with_other_sessions_by_hand_counts(api_client, customer):
    add_sessions(customer, "personalized", 25, 10, ratings=(5, 5, 4, 4, 3))
    add_sessions(customer, "retention_focus", 5, 2, ratings=(4, 2))
    add_sessions(customer, "segment_prior", 10, 2, ratings=(3,))
    add_sessions(customer, "balanced", 20, 4, ratings=(4, 3, 2))

    response = api_client.get(URL)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["scope"] == "customer"
    assert body["customer_id"] == customer.id
    assert body["period"]["days"] == 90
    personalized, others = body["performance"]["personalized"], body["performance"]["non_personalized"]
    # Personalized: 25 + 5 sessions, 10 + 2 conversions, ratings 5 5 4 4 3 4 2; the others: 10 + 20, 2 + 4, 3 4 3 2.
    treated_rate, control_rate = ProportionStats(30, 12), ProportionStats(30, 6)
    treated_ratings, control_ratings = ratings_stats([5, 5, 4, 4, 3, 4, 2]), ratings_stats([3, 4, 3, 2])
    low, high = t_interval(0.4, 0.4 * 0.6, 30)
    sat_low, sat_high = t_interval(27 / 7, treated_ratings.variance, 7)
    assert personalized == {
        "algorithms": ["personalized", "retention_focus"],
        "sessions": 30,
        "conversions": 12,
        "conversion_rate": 0.4,
        "conversion_rate_ci": {"low": pytest.approx(low, abs=1e-6), "high": pytest.approx(high, abs=1e-6)},
        "rated_sessions": 7,
        "mean_satisfaction": pytest.approx(27 / 7, abs=1e-6),
        "mean_satisfaction_ci": {"low": pytest.approx(sat_low, abs=1e-6), "high": pytest.approx(sat_high, abs=1e-6)},
    }
    low, high = t_interval(0.2, 0.2 * 0.8, 30)
    sat_low, sat_high = t_interval(3.0, control_ratings.variance, 4)
    assert others == {
        "algorithms": ["balanced", "segment_prior"],
        "sessions": 30,
        "conversions": 6,
        "conversion_rate": 0.2,
        "conversion_rate_ci": {"low": pytest.approx(low, abs=1e-6), "high": pytest.approx(high, abs=1e-6)},
        "rated_sessions": 4,
        "mean_satisfaction": 3.0,
        "mean_satisfaction_ci": {"low": pytest.approx(sat_low, abs=1e-6), "high": pytest.approx(sat_high, abs=1e-6)},
    }
    lift = frequentist_test(control_rate, treated_rate, relative=True)
    assert lift.effect == pytest.approx(1.0)  # 40% against 20%
    assert body["performance"]["conversion_lift"] == comparison(lift)
    difference = frequentist_test(control_ratings, treated_ratings, relative=False)
    assert body["performance"]["satisfaction_difference"] == comparison(difference)
    assert [(s["algorithm"], s["personalized"], s["sessions"], s["conversions"]) for s in body["strategies"]] == [
        ("personalized", True, 25, 10),
        ("balanced", False, 20, 4),
        ("segment_prior", False, 10, 2),
        ("retention_focus", True, 5, 2),
    ]
    assert body["strategies"][0]["conversion_rate"] == 0.4
    assert body["strategies"][0]["mean_satisfaction"] == pytest.approx(4.2)


@pytest.mark.django_db
def test_intervals_are_null_where_the_data_do_not_define_them(api_client, customer):
    add_sessions(customer, "personalized", 1, 1, ratings=(5,))
    add_sessions(customer, "balanced", 4, 0)

    performance = api_client.get(URL).json()["performance"]

    assert performance["personalized"]["conversion_rate"] == 1.0
    assert performance["personalized"]["conversion_rate_ci"] is None  # one session
    assert performance["personalized"]["mean_satisfaction_ci"] is None
    assert performance["non_personalized"]["conversion_rate"] == 0.0
    assert performance["non_personalized"]["conversion_rate_ci"] is None  # no variation
    assert performance["non_personalized"]["mean_satisfaction"] is None
    assert performance["conversion_lift"] is None
    assert performance["satisfaction_difference"] is None


@pytest.mark.django_db
def test_an_empty_period_has_zero_counts_and_no_insights(api_client):
    body = api_client.get(URL).json()

    assert body["performance"]["personalized"]["sessions"] == 0
    assert body["performance"]["personalized"]["conversion_rate"] is None
    assert body["strategies"] == []
    assert [s["sessions"] for s in body["funnel"]["steps"]] == [0, 0, 0, 0, 0]
    assert body["funnel"]["steps"][0]["share_of_recommended"] is None
    assert body["time_to_match"] == {
        "matches": 0,
        "median_hours": None,
        "p90_hours": None,
        "source": None,
        "from_conversion_time": 0,
        "from_decision_time": 0,
    }
    assert body["insights"] == []


# --- the funnel --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_funnel_counts_each_step_by_hand_with_its_drop_off(api_client, customer):
    add_session(customer)
    add_session(customer)
    add_session(customer, interaction_data={"explanation_opened": True})  # an interaction without views
    add_session(customer, viewed=[])  # an empty list of views is no view
    add_session(customer, viewed=[101])
    twice = add_session(customer, viewed=[101, 102])
    Interaction.objects.create(
        customer=customer, session=twice, event_id="again", interaction_data={"viewed_manufacturer_ids": [103]}
    )
    add_session(customer, viewed=[101], chosen=True, converted=False)
    add_session(customer, viewed=[101], chosen=True, converted=True, satisfaction=3)
    add_session(customer, viewed=[101], chosen=True, converted=True, satisfaction=4)
    add_session(customer, chosen=True, converted=True, satisfaction=5)  # a choice without reported views

    funnel = api_client.get(URL).json()["funnel"]

    assert funnel == {
        "steps": [
            {"step": "recommended", "sessions": 10, "share_of_recommended": 1.0, "drop_off": None},
            {"step": "viewed", "sessions": 6, "share_of_recommended": 0.6, "drop_off": 0.4},
            {"step": "chosen", "sessions": 4, "share_of_recommended": 0.4, "drop_off": pytest.approx(1 / 3, abs=1e-6)},
            {"step": "converted", "sessions": 3, "share_of_recommended": 0.3, "drop_off": 0.25},
            {
                "step": "satisfied",
                "sessions": 2,
                "share_of_recommended": 0.2,
                "drop_off": pytest.approx(1 / 3, abs=1e-6),
            },
        ],
        "rated_conversions": 3,
    }


@pytest.mark.django_db
def test_a_reported_conversion_counts_as_a_choice_so_the_funnel_never_rises(api_client, customer):
    add_session(customer, converted=True, satisfaction=5)  # the platform reported it; no feedback arrived
    add_session(customer)

    steps = api_client.get(URL).json()["funnel"]["steps"]

    assert [s["sessions"] for s in steps] == [2, 1, 1, 1, 1]


# --- time to a successful match ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_time_to_match_uses_conversion_times_and_falls_back_to_decision_times(api_client, customer):
    for hours in (2, 4, 10):
        add_session(customer, chosen=True, converted=True, converted_after_hours=hours, decision_seconds=60)
    add_session(customer, chosen=True, converted=True, converted_after_hours=None, decision_seconds=6 * 3600)
    add_session(customer, converted=True, converted_after_hours=None)  # no time known at all
    add_session(customer, chosen=True, converted=False, decision_seconds=3600)  # not a successful match

    time_to_match = api_client.get(URL).json()["time_to_match"]

    hours = [2, 4, 10, 6]
    assert time_to_match == {
        "matches": 4,
        "median_hours": pytest.approx(float(np.median(hours)), abs=1e-3),
        "p90_hours": pytest.approx(float(np.percentile(hours, 90)), abs=1e-3),
        "source": "mixed",
        "from_conversion_time": 3,
        "from_decision_time": 1,
    }
    assert time_to_match["median_hours"] == pytest.approx(5.0)
    assert time_to_match["p90_hours"] == pytest.approx(8.8)


@pytest.mark.django_db
def test_time_to_match_says_when_only_decision_times_are_known(api_client, customer):
    add_session(customer, chosen=True, converted=True, converted_after_hours=None, decision_seconds=1800)
    add_session(customer, chosen=True, converted=True, converted_after_hours=None, decision_seconds=5400)

    time_to_match = api_client.get(URL).json()["time_to_match"]

    assert time_to_match["source"] == "decision_time"
    assert time_to_match["median_hours"] == pytest.approx(1.0)
    assert (time_to_match["from_conversion_time"], time_to_match["from_decision_time"]) == (0, 2)


# --- who sees what, and the period -------------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_sees_only_its_own_figures_and_staff_see_all(api_client, staff_client, customer, other_customer):
    add_sessions(customer, "personalized", 6, 3, ratings=(5, 4))
    add_sessions(customer, "balanced", 4, 1)
    before = api_client.get(URL).json()

    add_sessions(other_customer, "personalized", 10, 1, ratings=(1,))
    add_sessions(other_customer, "segment_prior", 7, 7, ratings=(2, 2, 3))
    after = api_client.get(URL).json()

    assert without_period(after) == without_period(before)
    assert after["performance"]["personalized"]["sessions"] == 6
    assert after["funnel"]["steps"][0]["sessions"] == 10
    other = token_client(other_customer.user).get(URL).json()
    assert other["customer_id"] == other_customer.id
    assert other["performance"]["personalized"]["sessions"] == 10
    platform = staff_client.get(URL).json()
    assert platform["scope"] == "platform"
    assert platform["customer_id"] is None
    assert platform["performance"]["personalized"]["sessions"] == 16
    assert platform["performance"]["personalized"]["conversions"] == 4
    assert platform["performance"]["non_personalized"]["sessions"] == 11
    assert platform["performance"]["non_personalized"]["conversions"] == 8
    assert platform["funnel"]["steps"][0]["sessions"] == 27
    assert platform["time_to_match"]["matches"] == 12


@pytest.mark.django_db
def test_days_bounds_the_period(api_client, customer):
    now = timezone.now()
    for days_ago in (2, 30, 100, 400):
        add_session(customer, created_at=now - timedelta(days=days_ago))

    def recommended(query: str = "") -> int:
        response = api_client.get(URL + query)
        assert response.status_code == 200, response.json()
        return response.json()["funnel"]["steps"][0]["sessions"]

    assert recommended() == 2  # the last 90 days by default
    assert recommended("?days=7") == 1
    assert recommended("?days=365") == 3
    assert recommended("?days=1") == 0
    assert recommended("?days=") == 2  # an empty value is no value, as in an HTML form
    body = api_client.get(URL + "?days=30").json()
    assert body["period"]["days"] == 30


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["0", "366", "-5", "abc", "1.5"])
def test_an_invalid_days_is_refused_naming_it(api_client, value):
    response = api_client.get(URL, {"days": value})

    assert response.status_code == 400
    body = response.json()
    assert list(body["extra"]["fields"]) == ["days"]
    assert body["message"].startswith("Invalid input: days: ")


@pytest.mark.django_db
def test_an_unknown_query_parameter_is_refused_naming_it(staff_client):
    response = staff_client.get(URL, {"day": "30"})

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid input: day: Unknown field.",
        "extra": {"fields": {"day": ["Unknown field."]}},
    }


@pytest.mark.django_db
def test_users_without_a_customer_account_who_are_not_staff_are_refused():
    response = token_client(UserFactory()).get(URL)

    assert response.status_code == 403
    assert response.json() == {"message": "Only staff and customer accounts have insights to read.", "extra": {}}


@pytest.mark.django_db
def test_anonymous_callers_are_asked_to_authenticate(anonymous_client):
    response = anonymous_client.get(URL)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


# --- insight sentences through the API ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_significant_lift_of_personalization_is_reported_with_its_counts(api_client, customer):
    add_sessions(customer, "personalized", 50, 35)
    add_sessions(customer, "segment_prior", 50, 15)

    insights = {i["kind"]: i for i in api_client.get(URL).json()["insights"]}

    insight = insights["personalization_conversion"]
    assert insight["message"].startswith(
        "Personalized sessions convert significantly better than the others: 70.0% of 50 against 30.0% of 50 "
        "(relative lift +133%"
    )
    result = frequentist_test(ProportionStats(50, 15), ProportionStats(50, 35))
    assert result.significant
    assert insight["evidence"] == {
        "personalized_sessions": 50,
        "personalized_conversions": 35,
        "other_sessions": 50,
        "other_conversions": 15,
        "effect": pytest.approx(result.effect, abs=1e-6),
        "ci_low": pytest.approx(result.ci_low, abs=1e-6),
        "ci_high": pytest.approx(result.ci_high, abs=1e-6),
        "p_value": pytest.approx(result.p_value, abs=1e-6),
    }


@pytest.mark.django_db
def test_no_personalization_sentence_without_a_significant_difference(api_client, customer):
    add_sessions(customer, "personalized", 50, 17)
    add_sessions(customer, "segment_prior", 50, 15)

    body = api_client.get(URL).json()

    assert not body["performance"]["conversion_lift"]["significant"]
    assert "personalization_conversion" not in [i["kind"] for i in body["insights"]]


# --- insight sentences, pure ---------------------------------------------------------------------------------

QUIET_FUNNEL = FunnelFigures(recommended=0, viewed=0, chosen=0, converted=0, satisfied=0, rated=0)
NO_MATCHES = TimeToMatch(matches=0, from_conversion_time=0, from_decision_time=0, median_hours=None, p90_hours=None)
NO_RATINGS = SampleStats(n=0, sum=0.0, sum_squares=0.0)


def strategy(algorithm: str, n: int, conversions: int, ratings=()) -> StrategyFigures:
    return StrategyFigures(algorithm, ProportionStats(n, conversions), ratings_stats(list(ratings)))


def figures(strategies=(), funnel=QUIET_FUNNEL, first_half=NO_RATINGS, second_half=NO_RATINGS) -> InsightFigures:
    return InsightFigures(tuple(strategies), funnel, first_half, second_half, NO_MATCHES)


def kinds(result) -> list[str]:
    return [insight.kind for insight in result]


def by_kind(result, kind: str):
    return next(insight for insight in result if insight.kind == kind)


def test_personalization_sentence_needs_a_significant_lift():
    significant = insight_sentences(figures([strategy("personalized", 200, 80), strategy("balanced", 200, 40)]))
    close = insight_sentences(figures([strategy("personalized", 200, 44), strategy("balanced", 200, 40)]))

    insight = by_kind(significant, "personalization_conversion")
    assert "significantly better" in insight.message
    assert "40.0% of 200 against 20.0% of 200" in insight.message
    assert insight.evidence["personalized_sessions"] == 200
    assert insight.evidence["other_conversions"] == 40
    assert "personalization_conversion" not in kinds(close)


def test_personalization_sentence_needs_enough_sessions_on_each_side():
    small = MIN_ARM_SESSIONS - 1
    result = insight_sentences(figures([strategy("personalized", small, small - 1), strategy("balanced", 200, 20)]))

    assert "personalization_conversion" not in kinds(result)


def test_personalization_that_converts_worse_is_called_out():
    result = insight_sentences(figures([strategy("retention_focus", 200, 20), strategy("segment_prior", 200, 60)]))

    insight = by_kind(result, "personalization_conversion")
    assert insight.message.startswith("Personalized sessions convert significantly worse than the others: 10.0% of 200")


def test_personalization_satisfaction_sentence_needs_enough_ratings_and_significance():
    high, low = [5, 5, 4, 5, 4, 5, 5, 4, 5, 5], [3, 2, 3, 4, 3, 2, 3, 3, 4, 2]
    result = insight_sentences(
        figures([strategy("personalized", 50, 10, ratings=high), strategy("balanced", 50, 10, ratings=low)])
    )
    too_few = insight_sentences(
        figures([strategy("personalized", 50, 10, ratings=high[:9]), strategy("balanced", 50, 10, ratings=low)])
    )
    same = insight_sentences(
        figures([strategy("personalized", 50, 10, ratings=high), strategy("balanced", 50, 10, ratings=high)])
    )

    insight = by_kind(result, "personalization_satisfaction")
    assert "rated significantly higher: 4.70 of 5 over 10 ratings against 2.90 over 10" in insight.message
    assert "personalization_satisfaction" not in kinds(too_few)
    assert "personalization_satisfaction" not in kinds(same)


def test_funnel_sentence_names_the_step_that_loses_the_largest_share():
    funnel = FunnelFigures(recommended=200, viewed=180, chosen=60, converted=50, satisfied=30, rated=40)

    insight = by_kind(insight_sentences(figures(funnel=funnel)), "funnel_drop_off")

    assert insight.evidence == {
        "step": "chosen",
        "from_step": "viewed",
        "reached_previous": 180,
        "lost": 120,
        "drop_off": pytest.approx(2 / 3, abs=1e-6),
    }
    assert insight.message.startswith(
        "The journey loses most between viewed and chosen: 67% of 180 sessions with views ended without a choice (120)."
    )


def test_funnel_sentence_counts_only_rated_contracts_as_lost_for_satisfaction():
    # 90% of the contracts have no 4-5 rating, but only because most await one: of the 40 rated, 10 are below 4.
    funnel = FunnelFigures(recommended=100, viewed=80, chosen=60, converted=50, satisfied=30, rated=40)

    insight = by_kind(insight_sentences(figures(funnel=funnel)), "funnel_drop_off")

    assert insight.evidence["step"] == "chosen"  # 25% lost, more than converted (17%) or satisfied (25% of rated)
    funnel = FunnelFigures(recommended=100, viewed=95, chosen=90, converted=85, satisfied=20, rated=40)
    insight = by_kind(insight_sentences(figures(funnel=funnel)), "funnel_drop_off")
    assert insight.evidence == {
        "step": "satisfied",
        "from_step": "converted",
        "reached_previous": 40,
        "lost": 20,
        "drop_off": 0.5,
    }
    assert "50% of 40 rated contracts were rated below 4 of 5 (20)" in insight.message


def test_funnel_sentence_needs_enough_sessions_at_the_step_before():
    funnel = FunnelFigures(recommended=19, viewed=5, chosen=1, converted=0, satisfied=0, rated=0)

    assert "funnel_drop_off" not in kinds(insight_sentences(figures(funnel=funnel)))


def test_best_strategy_sentence_needs_a_significant_lead_over_the_runner_up():
    clear = insight_sentences(
        figures(
            [
                strategy("balanced", 300, 90),
                strategy("quality_focused", 300, 45),
                strategy("cost_focused", 300, 40),
                strategy("speed_focused", 29, 29),  # too few sessions to count
            ]
        )
    )
    close = insight_sentences(figures([strategy("balanced", 300, 90), strategy("quality_focused", 300, 84)]))

    insight = by_kind(clear, "best_strategy")
    assert insight.message.startswith(
        "The balanced strategy converts best: 30.0% of 300 sessions against 15.0% of 300 for quality_focused"
    )
    assert insight.evidence["runner_up"] == "quality_focused"
    assert insight.evidence["conversions"] == 90
    assert "best_strategy" not in kinds(close)


def test_satisfaction_trend_sentence_only_when_it_is_significantly_down():
    earlier = ratings_stats([5, 4, 5, 5, 4, 5, 4, 5, 5, 4, 5, 4])
    later = ratings_stats([3, 4, 2, 3, 3, 4, 2, 3, 3, 4, 3, 3])

    down = insight_sentences(figures(first_half=earlier, second_half=later))
    up = insight_sentences(figures(first_half=later, second_half=earlier))
    flat = insight_sentences(figures(first_half=earlier, second_half=earlier))
    too_few = insight_sentences(figures(first_half=earlier, second_half=ratings_stats([1, 1, 2, 1, 2, 1, 1, 2, 1])))

    insight = by_kind(down, "satisfaction_trend")
    assert insight.message.startswith(
        f"Satisfaction is trending down: {later.mean:.2f} of 5 over 12 rated sessions of the second half"
    )
    assert insight.evidence["first_half_ratings"] == insight.evidence["second_half_ratings"] == 12
    assert insight.evidence["ci_high"] < 0
    assert "satisfaction_trend" not in kinds(up) + kinds(flat) + kinds(too_few)


@pytest.mark.django_db
def test_satisfaction_trend_compares_the_two_halves_of_the_period(api_client, customer):
    now = timezone.now()
    for i in range(12):
        add_session(customer, created_at=now - timedelta(days=80), chosen=True, converted=True, satisfaction=5 - i % 2)
        add_session(customer, created_at=now - timedelta(days=10), chosen=True, converted=True, satisfaction=2 + i % 2)

    insight = next(i for i in api_client.get(URL).json()["insights"] if i["kind"] == "satisfaction_trend")

    assert insight["evidence"]["first_half_ratings"] == insight["evidence"]["second_half_ratings"] == 12
    assert "2.50 of 5 over 12 rated sessions of the second half" in insight["message"]
    assert "against 4.50 over 12 of the first half" in insight["message"]


# --- on a loaded simulated world ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_insights_on_a_simulated_world_match_the_database(staff_client, django_assert_max_num_queries):
    call_command(
        "simulate_marketplace",
        "--manufacturers",
        "60",
        "--customers",
        "25",
        "--days",
        "60",
        "--seed",
        "5",
        "--no-progress",
    )

    response = staff_client.get(URL)

    assert response.status_code == 200, response.json()
    body = response.json()
    steps = [s["sessions"] for s in body["funnel"]["steps"]]
    assert steps == sorted(steps, reverse=True), steps
    sessions = RecommendationSession.objects.count()
    assert sessions > 100
    converted = SessionOutcome.objects.filter(converted=True).count()
    assert steps == [
        sessions,
        Interaction.objects.values("session").distinct().count(),
        Interaction.objects.filter(chosen_manufacturer_id__isnull=False).count(),
        converted,
        SessionOutcome.objects.filter(satisfaction__gte=4).count(),
    ]
    assert body["funnel"]["rated_conversions"] == SessionOutcome.objects.filter(satisfaction__isnull=False).count()
    performance = body["performance"]
    assert performance["personalized"]["sessions"] == 0  # the history was ranked by the base strategies
    assert performance["non_personalized"]["sessions"] == sessions
    assert performance["non_personalized"]["conversions"] == converted
    assert performance["conversion_lift"] is None
    by_strategy = dict(RecommendationSession.objects.values_list("algorithm_used").annotate(n=Count("pk")))
    assert {s["algorithm"]: s["sessions"] for s in body["strategies"]} == by_strategy
    assert sum(s["conversions"] for s in body["strategies"]) == converted
    assert body["time_to_match"]["matches"] == converted
    assert body["time_to_match"]["source"] == "conversion_time"
    assert 0 < body["time_to_match"]["median_hours"] <= body["time_to_match"]["p90_hours"]
    for insight in body["insights"]:
        assert insight["message"]
        assert insight["evidence"]
    # A few aggregate queries, whatever the number of sessions.
    with django_assert_max_num_queries(3):
        insights_get(customer=None, days=90)
