"""The Celery app (cookiecutter-django's layout). Settings come from Django's, prefix CELERY_."""

import os

from celery import Celery
from celery.signals import task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.base")

app = Celery("shop", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _worker_ready_heartbeat(**kwargs) -> None:
    """Leave a heartbeat as soon as a worker is up (``/healthz`` reads it on the embedded broker)."""
    from shop.tasks import touch_worker_heartbeat

    touch_worker_heartbeat()


@task_prerun.connect
def _reads_start_on_the_primary(**kwargs) -> None:
    """A task reads the primary (shop/replicas.py)."""
    from shop.replicas import task_started

    task_started()
