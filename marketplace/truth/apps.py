from django.apps import AppConfig


class TruthConfig(AppConfig):
    name = "marketplace.truth"
    label = "marketplace_truth"
    verbose_name = "Simulation truth (hidden from the engine)"
