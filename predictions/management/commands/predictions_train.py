"""Train every model type now, in this process (what beat's retraining does, without waiting for it)."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from predictions.selectors import model_deployed_get
from predictions.services import MODEL_TYPES, model_train, model_train_request


class Command(BaseCommand):
    help = "Train each model type (or those named) from the database's rows, and deploy what beats its baseline."

    def add_arguments(self, parser) -> None:
        parser.add_argument("model_types", nargs="*", help=f"Among {', '.join(MODEL_TYPES)}; default: every type")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--if-missing", action="store_true", help="Only the types with no deployed version (what `make demo` runs)"
        )

    def handle(self, *args, **options) -> None:
        unknown = set(options["model_types"]) - set(MODEL_TYPES)
        if unknown:
            raise CommandError(f"Unknown model types {sorted(unknown)}; among {', '.join(MODEL_TYPES)}.")
        for model_type in options["model_types"] or MODEL_TYPES:
            if options["if_missing"] and model_deployed_get(model_type=model_type) is not None:
                self.stdout.write(f"{model_type}: a version is deployed already.")
                continue
            try:
                model = model_train(model=model_train_request(model_type=model_type), seed=options["seed"])
            except DomainError as error:
                self.stderr.write(f"{model_type}: {error.message}")
                continue
            seconds = f"{model.training_seconds:.1f} s" if model.training_seconds is not None else "-"
            self.stdout.write(f"{model} in {seconds}: {model.status_reason}")
