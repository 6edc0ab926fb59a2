from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from knox.models import AuthToken

from core.services import product_manager_group_ensure
from experiments.models import ABTestExperiment
from experiments.services import experiment_create
from marketplace.models import CustomerAccount

DEMO_PM_USERNAME = "pm"
DEMO_CUSTOMER_USERNAME = "demo-customer"
DEMO_EXPERIMENT = "Personalized vs balanced ranking"


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo product-manager login and demo customer, a draft demo experiment, and print "
        "a fresh API token."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default=None, help="Password for both logins (default: DEMO_PASSWORD)")

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        password = options["password"] or settings.DEMO_PASSWORD
        if len(password) < 8:
            raise CommandError("Give a password of at least 8 characters (--password or DEMO_PASSWORD).")
        User = get_user_model()
        group = product_manager_group_ensure()

        pm, _ = User.objects.get_or_create(username=DEMO_PM_USERNAME, defaults={"email": "pm@example.com"})
        pm.is_staff = True
        pm.set_password(password)
        pm.save()
        pm.groups.add(group)

        buyer, _ = User.objects.get_or_create(username=DEMO_CUSTOMER_USERNAME, defaults={"email": "buyer@example.com"})
        buyer.set_password(password)
        buyer.save()
        CustomerAccount.objects.get_or_create(
            user=buyer,
            defaults={
                "company_name": "Demo Robotics GmbH",
                "industry": "robotics",
                "company_size": "medium",
                "region": "western_europe",
                "segment": "speed_driven",
            },
        )
        _, token = AuthToken.objects.create(buyer)
        if not ABTestExperiment.objects.filter(name=DEMO_EXPERIMENT).exists():
            experiment_create(
                name=DEMO_EXPERIMENT,
                description="Does the personalized ranking convert better than the balanced base strategy?",
                variants=[
                    {
                        "key": "balanced",
                        "name": "Balanced strategy",
                        "weight": 0.5,
                        "is_control": True,
                        "config": {"strategy": "balanced"},
                    },
                    {
                        "key": "personalized",
                        "name": "Personalized",
                        "weight": 0.5,
                        "config": {"strategy": "personalized"},
                    },
                ],
                guardrail_metrics=["satisfaction"],
                created_by=pm,
            )

        self.stdout.write(self.style.SUCCESS("Demo logins (admin at http://127.0.0.1:8000/admin/):"))
        self.stdout.write(f"  product manager: {DEMO_PM_USERNAME} / {password}")
        self.stdout.write(f"  demo customer:   {DEMO_CUSTOMER_USERNAME} / {password}")
        self.stdout.write(f"  customer API token: {token}")
        example = (
            '{"order_context": {"process": "cnc_machining", "quantity": 200, "complexity_level": "complex", '
            '"estimated_value": 15000, "quality_requirements": 0.8, "timeline_urgency": 0.6, '
            '"region": "western_europe"}, "optimization_goal": "quality"}'
        )
        self.stdout.write("  try:")
        self.stdout.write(
            "    curl -X POST http://127.0.0.1:8000/api/v1/advanced-personalization/recommendations/personalized "
            f"-H 'Authorization: Token {token}' -H 'Content-Type: application/json' -d '{example}'"
        )
