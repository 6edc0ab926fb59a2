"""Seed the capability vocabulary (processes, materials, certifications) from marketplace/vocabulary.py."""

from django.db import migrations

from marketplace.vocabulary import CERTIFICATIONS, MATERIALS, PROCESS_MATERIALS, PROCESSES


def seed(apps, schema_editor):
    Process = apps.get_model("marketplace", "Process")
    Material = apps.get_model("marketplace", "Material")
    Certification = apps.get_model("marketplace", "Certification")
    for code, name in PROCESSES.items():
        Process.objects.update_or_create(code=code, defaults={"name": name})
    for code, name in CERTIFICATIONS.items():
        Certification.objects.update_or_create(code=code, defaults={"name": name})
    for code, name in MATERIALS.items():
        material, _ = Material.objects.update_or_create(code=code, defaults={"name": name})
        material.processes.set([p for p, materials in PROCESS_MATERIALS.items() if code in materials])


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
