"""Stored beliefs keep the precision (a symmetric 14 x 14 matrix) as its upper triangle in base64 of
little-endian float64 (`precision_upper`) instead of 196 decimal numbers (`precision`): exact, and far cheaper to
write and read on every choice (personalization.services.profiles.state_to_json). Reversible. The conversion is
written out here, frozen with the migration."""

import base64

import numpy as np
from django.db import migrations


def to_upper(state: dict) -> dict:
    precision = np.asarray(state["precision"], dtype="<f8")
    upper = precision[np.triu_indices(len(precision))]
    rest = {k: v for k, v in state.items() if k != "precision"}
    return {**rest, "precision_upper": base64.b64encode(upper.tobytes()).decode("ascii")}


def to_full(state: dict) -> dict:
    upper = np.frombuffer(base64.b64decode(state["precision_upper"]), dtype="<f8")
    size = int(round((np.sqrt(8 * len(upper) + 1) - 1) / 2))  # len(upper) = size (size + 1) / 2
    precision = np.empty((size, size))
    precision[np.triu_indices(size)] = precision.T[np.triu_indices(size)] = upper
    rest = {k: v for k, v in state.items() if k != "precision_upper"}
    return {**rest, "precision": precision.tolist()}


def _convert(apps, convert, key: str) -> None:
    Profile = apps.get_model("personalization", "CustomerPersonalizationProfile")
    batch = []
    for profile in Profile.objects.only("id", "preference_state", "prior_state").iterator(chunk_size=500):
        if key not in profile.preference_state:  # already converted
            continue
        profile.preference_state = convert(profile.preference_state)
        profile.prior_state = convert(profile.prior_state)
        batch.append(profile)
        if len(batch) == 500:
            Profile.objects.bulk_update(batch, ["preference_state", "prior_state"])
            batch = []
    Profile.objects.bulk_update(batch, ["preference_state", "prior_state"])


def forwards(apps, schema_editor) -> None:
    _convert(apps, to_upper, "precision")


def backwards(apps, schema_editor) -> None:
    _convert(apps, to_full, "precision_upper")


class Migration(migrations.Migration):
    dependencies = [("personalization", "0006_profile_revision")]

    operations = [migrations.RunPython(forwards, backwards)]
