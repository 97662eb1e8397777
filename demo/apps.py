from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for development and benchmarks. Sits above every other app."""

    name = "demo"
    verbose_name = "Demo data"
