from dataclasses import asdict
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from marketplace.simulation import WorldConfig, build_world, simulate_history
from marketplace.truth.loading import world_delete, world_load
from marketplace.truth.models import SimulatedWorld


class Command(BaseCommand):
    help = (
        "Load a deterministic simulated marketplace (manufacturers, customers, months of orders and outcomes) "
        "with its hidden truth. Running it again with the same options does nothing; --reset replaces it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--manufacturers", type=int, default=500)
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--days", type=int, default=180)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--reset", action="store_true", help="Delete any simulated world first")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        try:
            config = WorldConfig(
                n_manufacturers=options["manufacturers"],
                n_customers=options["customers"],
                days=options["days"],
                seed=options["seed"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        existing = list(SimulatedWorld.objects.all())
        if existing and not options["reset"]:
            if any(world.config == asdict(config) for world in existing):
                self.stdout.write(
                    f"A simulated world with these options is already loaded: {existing[0]}. Nothing to do."
                )
                return
            raise CommandError("Another simulated world is loaded; run again with --reset to replace it.")
        for world in existing:
            world_delete(world=world)

        world = build_world(config)
        history = simulate_history(world)
        total = len(world.manufacturers) + len(world.customers) + len(history.orders)
        with tqdm(
            total=total, desc="Loading marketplace", unit="rows", disable=options["no_progress"], file=self.stderr
        ) as bar:
            record = world_load(
                world=world,
                history=history,
                start=timezone.now() - timedelta(days=config.days),
                progress=lambda stage, n: (bar.set_postfix_str(stage), bar.update(n)),
            )
        summary = record.summary
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {len(world.manufacturers)} manufacturers, {len(world.customers)} customers and "
                f"{summary['orders']} orders over {config.days} days (seed {config.seed}): conversion "
                f"{summary['conversion_rate']:.1%}, mean satisfaction {summary['mean_satisfaction']:.2f}, "
                f"{summary['churned_customers']} customers churned."
            )
        )
