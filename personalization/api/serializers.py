from decimal import Decimal

from rest_framework import serializers

from core.api.fields import StrictFloatField, StrictIntegerField, StrictUUIDField
from core.api.serializers import StrictSerializer
from marketplace.api.serializers import validate_material_for_process
from marketplace.models import ComplexityLevel, Region
from marketplace.scoring import STRATEGIES
from marketplace.vocabulary import CERTIFICATIONS, FACTORS, MATERIALS, OPTIMIZATION_GOALS, PROCESSES

MAX_RECOMMENDATIONS = 50
MAX_ID = 2**63 - 1  # the largest id a BigAutoField holds (and numpy's int64, which the scoring filters with)


class OrderContextSerializer(StrictSerializer):
    process = serializers.ChoiceField(choices=list(PROCESSES))
    material = serializers.ChoiceField(choices=list(MATERIALS), required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000_000)
    complexity_level = serializers.ChoiceField(choices=ComplexityLevel.choices)
    estimated_value = StrictFloatField(min_value=0.01, max_value=1e12)
    quality_requirements = StrictFloatField(min_value=0, max_value=1)
    timeline_urgency = StrictFloatField(min_value=0, max_value=1)
    region = serializers.ChoiceField(choices=Region.choices, help_text="The delivery region")

    def validate(self, attrs: dict) -> dict:
        validate_material_for_process(attrs)
        return attrs


class CustomerPreferencesSerializer(StrictSerializer):
    required_certifications = serializers.ListField(
        child=serializers.ChoiceField(choices=list(CERTIFICATIONS)),
        required=False,
        max_length=len(CERTIFICATIONS),
        help_text="Only manufacturers holding all of these",
    )
    excluded_manufacturer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
        help_text="Never recommend these manufacturers",
    )
    max_lead_time_days = StrictFloatField(min_value=0.1, max_value=365, required=False)
    factor_importance = serializers.DictField(
        child=StrictFloatField(min_value=0, max_value=1),
        required=False,
        help_text=f"Stated importance in [0, 1] of any of {', '.join(FACTORS)}; it takes half of the weights",
    )

    def validate_factor_importance(self, value: dict) -> dict:
        unknown = sorted(set(value) - set(FACTORS))
        if unknown:
            raise serializers.ValidationError(f"Unknown factor(s): {', '.join(unknown)}. Known: {', '.join(FACTORS)}.")
        return value


class RecommendationRequestSerializer(StrictSerializer):
    order_context = OrderContextSerializer(required=False)
    order_id = serializers.IntegerField(
        min_value=1, required=False, help_text="One of your orders, instead of order_context"
    )
    customer_preferences = CustomerPreferencesSerializer(required=False)
    use_ab_testing = serializers.BooleanField(default=True)
    optimization_goal = serializers.ChoiceField(choices=list(OPTIMIZATION_GOALS), default="balanced")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_RECOMMENDATIONS, default=10)

    def validate(self, attrs: dict) -> dict:
        if "order_context" in attrs and "order_id" in attrs:
            raise serializers.ValidationError({"order_id": ["Give either order_context or order_id, not both."]})
        if "order_context" not in attrs and "order_id" not in attrs:
            raise serializers.ValidationError({"order_context": ["This field is required (or give an order_id)."]})
        return attrs


class RecommendedManufacturerSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="manufacturer_id")
    name = serializers.CharField()
    country = serializers.CharField()
    region = serializers.CharField()


class FactorMapSerializer(serializers.Serializer):
    """One number per ranking factor."""

    cost_fit = serializers.FloatField()
    quality_fit = serializers.FloatField()
    speed_fit = serializers.FloatField()
    reliability = serializers.FloatField()
    proximity = serializers.FloatField()
    capability_depth = serializers.FloatField()


assert tuple(FactorMapSerializer().fields) == FACTORS, "FactorMapSerializer must list every factor, in order"


class RecommendationItemSerializer(serializers.Serializer):
    manufacturer = RecommendedManufacturerSerializer(source="*")
    rank = serializers.IntegerField()
    score = serializers.FloatField(help_text="Sum of the factor contributions plus the pattern boost")
    factor_contributions = FactorMapSerializer(source="contributions", help_text="Weight x value of each factor")
    factor_values = FactorMapSerializer(source="features", help_text="Each factor's value in [0, 1]")
    pattern_boost = serializers.FloatField(
        help_text="What the customer's history adds beyond the factors: its learnt region effect, manufacturers "
        "that worked for it, and a track-record penalty for the risk-averse"
    )
    explanation = serializers.CharField(help_text="One line, or a breakdown for customers who prefer detail")


class PersonalizationMetadataSerializer(serializers.Serializer):
    algorithm_used = serializers.ChoiceField(
        choices=["personalized", "segment_prior", "retention_focus", *STRATEGIES],
        help_text="A base strategy only when an experiment's variant serves it",
    )
    customer_class = serializers.ChoiceField(choices=["new", "established", "at_risk"])
    personalization_level = serializers.FloatField()
    personal_confidence = serializers.FloatField()
    exploration_temperature = serializers.FloatField(help_text="0 = no exploration below the top three")
    ab_test_active = serializers.BooleanField()
    optimization_reasoning = serializers.CharField()
    weights_version = serializers.CharField()
    eligible_candidates = serializers.IntegerField(source="eligible_count")


class RecommendationResponseSerializer(serializers.Serializer):
    recommendations = RecommendationItemSerializer(many=True)
    personalization_metadata = PersonalizationMetadataSerializer()
    session_id = serializers.UUIDField()
    timestamp = serializers.DateTimeField()


def recommendation_response_data(result) -> dict:
    """The body that RecommendationResponseSerializer describes, built directly.

    The recommendation endpoint is the hot path, and DRF's field-by-field serialisation of ten nested items
    cost 0.35 ms of a 3 ms request; the serializer stays the schema, and a test holds both to the same output.
    """
    session = result.session
    return {
        "recommendations": [
            {
                "manufacturer": {
                    "id": item.manufacturer_id,
                    "name": item.name,
                    "country": item.country,
                    "region": item.region,
                },
                "rank": item.rank,
                "score": item.score,
                "factor_contributions": item.contributions,
                "factor_values": item.features,
                "pattern_boost": item.pattern_boost,
                "explanation": item.explanation,
            }
            for item in result.items
        ],
        "personalization_metadata": {
            "algorithm_used": session.algorithm_used,
            "customer_class": session.customer_class,
            "personalization_level": session.personalization_level,
            "personal_confidence": session.personal_confidence,
            "exploration_temperature": session.exploration_temperature,
            "ab_test_active": session.ab_test_active,
            "optimization_reasoning": session.optimization_reasoning,
            "weights_version": session.weights_version,
            "eligible_candidates": session.eligible_count,
        },
        "session_id": str(session.id),
        "timestamp": serializers.DateTimeField().to_representation(session.created_at),
    }


class InteractionDataSerializer(StrictSerializer):
    viewed_manufacturer_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=MAX_RECOMMENDATIONS
    )
    time_to_decision_seconds = StrictFloatField(min_value=0, max_value=90 * 24 * 3600, required=False)
    explanation_opened = serializers.BooleanField(required=False)


class ChoiceDataSerializer(StrictSerializer):
    chosen_manufacturer_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    chosen_rank = StrictIntegerField(min_value=1, max_value=MAX_RECOMMENDATIONS, required=False)
    rejected_manufacturer_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=MAX_RECOMMENDATIONS
    )
    feedback = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class EventIdField(serializers.RegexField):
    def __init__(self, **kwargs) -> None:
        super().__init__(
            r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
            help_text="Your id of this event (1-100 letters, digits, . _ : -): a repeat changes nothing",
            trim_whitespace=False,  # " e1" is not the event "e1"
            **kwargs,
        )


class ProfileUpdateRequestSerializer(StrictSerializer):
    event_id = EventIdField()
    session_id = StrictUUIDField()
    interaction_data = InteractionDataSerializer(required=False)
    choice_data = ChoiceDataSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("interaction_data") and not attrs.get("choice_data"):
            raise serializers.ValidationError({"interaction_data": ["Send interaction_data, choice_data or both."]})
        return attrs


class ProfileUpdateResponseSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    duplicate = serializers.BooleanField(help_text="True when this event id was already applied: nothing changed")
    session_id = serializers.UUIDField()
    weights_version = serializers.IntegerField()
    personal_weights = FactorMapSerializer()
    personal_confidence = serializers.FloatField()
    learning_velocity = serializers.FloatField()
    update = serializers.DictField(help_text="What this event changed: step size, weights before and after")


def profile_update_response_data(result) -> dict:
    """The body that ProfileUpdateResponseSerializer describes, built directly (a FeedbackResult's).

    As for the recommendations: DRF's copy of the serializer's fields and its field-by-field output cost about
    0.3 ms of every feedback; the serializer stays the schema, and a test holds both to the same output."""
    profile, interaction = result.profile, result.interaction
    return {
        "event_id": interaction.event_id,
        "duplicate": result.duplicate,
        "session_id": str(interaction.session_id),
        "weights_version": profile.weights_version,
        "personal_weights": {name: float(profile.personal_weights[name]) for name in FACTORS},
        "personal_confidence": float(profile.personal_confidence),
        "learning_velocity": float(profile.learning_velocity),
        "update": interaction.update_summary,
    }


class OutcomeRequestSerializer(StrictSerializer):
    event_id = EventIdField()
    session_id = StrictUUIDField()
    manufacturer_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    converted = serializers.BooleanField(required=False, allow_null=True, default=None)
    contract_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True, default=None
    )
    satisfaction = StrictIntegerField(min_value=1, max_value=5, required=False, allow_null=True, default=None)
    delivered_on_time = serializers.BooleanField(required=False, allow_null=True, default=None)


class OutcomeResponseSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    duplicate = serializers.BooleanField()
    session_id = serializers.UUIDField()
    manufacturer_id = serializers.IntegerField()
    converted = serializers.BooleanField(allow_null=True)
    contract_value = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True, coerce_to_string=False)
    satisfaction = serializers.IntegerField(allow_null=True)
    delivered_on_time = serializers.BooleanField(allow_null=True)
    update = serializers.DictField()
