from django.core.management.base import BaseCommand
from tqdm import tqdm

from marketplace.models import CustomerAccount
from personalization.services import profiles_rebuild, segment_preferences_recompute


class Command(BaseCommand):
    help = (
        "Refit the segment priors from the decision log, then rebuild every customer's profile from its "
        "history (feedback and outcomes, in time order). Safe to run again: the result depends only on the log."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        for result in segment_preferences_recompute():
            state = "fitted" if result.fitted else "kept (too few choices)"
            self.stdout.write(
                f"segment {result.segment}: {result.choices} choices of {result.customers} customers, {state}"
            )
        with tqdm(
            total=CustomerAccount.objects.count(),
            desc="Rebuilding profiles",
            unit="customers",
            disable=options["no_progress"],
            file=self.stderr,
        ) as bar:
            count = profiles_rebuild(progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {count} profiles."))
