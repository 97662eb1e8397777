"""Cache invalidation only (STYLE.md allows signals for this): a saved or deleted phrase
makes every process re-read the phrase table on its next question."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .intents import phrase_table_invalidate
from .models import IntentPhrase


@receiver(post_save, sender=IntentPhrase)
@receiver(post_delete, sender=IntentPhrase)
def _phrases_changed(**kwargs) -> None:
    phrase_table_invalidate()
