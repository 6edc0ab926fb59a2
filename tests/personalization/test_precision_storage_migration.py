"""The data migration that stores a belief's precision as its upper triangle (`state_to_json`'s format)."""

import importlib

import numpy as np
import pytest
from django.apps import apps

from personalization import learning
from personalization.models import CustomerPersonalizationProfile
from personalization.services.profiles import state_from_json, state_to_json
from tests.factories import CustomerAccountFactory

migration = importlib.import_module("personalization.migrations.0007_precision_as_upper_triangle")


def old_format(state: learning.PreferenceState, **extra) -> dict:
    """A belief as the engine stored it before the migration."""
    return {
        "mean": list(state.mean),
        "precision": [list(r) for r in state.precision],
        "choices": state.choices,
        **extra,
    }


def a_belief(seed: int) -> learning.PreferenceState:
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(learning.DIMENSIONS, learning.DIMENSIONS))
    return learning.state_from(rng.normal(size=learning.DIMENSIONS), root @ root.T + np.eye(learning.DIMENSIONS), 7)


@pytest.mark.parametrize("seed", range(5))
def test_the_stored_precision_reads_back_exactly(seed):
    state = a_belief(seed)

    assert state_from_json(state_to_json(state)) == state


def test_forwards_gives_the_engines_format_keeping_the_other_keys_and_backwards_undoes_it_exactly():
    state = a_belief(11)
    old = old_format(state, position_bias=0.9)

    new = migration.to_upper(old)

    assert new == {**state_to_json(state), "position_bias": 0.9}
    assert migration.to_full(new) == old


@pytest.mark.django_db
def test_the_migration_converts_stored_profiles_both_ways():
    state, prior = a_belief(1), a_belief(2)
    profile = CustomerPersonalizationProfile.objects.create(
        customer=CustomerAccountFactory(),
        personal_weights={},
        preference_state=old_format(state),
        prior_state=old_format(prior, position_bias=1.1),
    )

    migration.forwards(apps, None)
    profile.refresh_from_db()
    assert state_from_json(profile.preference_state) == state
    assert profile.prior_state == {**state_to_json(prior), "position_bias": 1.1}
    migration.forwards(apps, None)  # a second run finds nothing to convert
    profile.refresh_from_db()
    assert state_from_json(profile.preference_state) == state

    migration.backwards(apps, None)
    profile.refresh_from_db()
    assert profile.preference_state == old_format(state)
    assert profile.prior_state == old_format(prior, position_bias=1.1)
