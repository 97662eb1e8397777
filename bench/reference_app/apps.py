from django.apps import AppConfig


class ReferenceAppConfig(AppConfig):
    name = "bench.reference_app"
    label = "bench_reference"
    default_auto_field = "django.db.models.BigAutoField"
