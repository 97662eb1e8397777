"""Ops: every conversation, read-only (with its messages and unfiltered facts); an answer
box on conversations handed over with no order (the merchant answers the others, from
the console); the phrase table, editable."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from shop.errors import ApplicationError

from .models import TEXT_MAX_CHARS, Conversation, IntentPhrase, Message
from .services import conversation_reply


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "sender", "author", "text", "intent", "data")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ConversationForm(forms.ModelForm):
    ops_reply = forms.CharField(
        required=False,
        max_length=TEXT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Answer the buyer (conversations with no order only); they are notified.",
    )

    class Meta:
        model = Conversation
        fields = ()


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    form = ConversationForm
    list_display = ("id", "asker", "order", "merchant", "status", "handed_over_at", "last_message_at")
    list_filter = ("status", ("merchant", admin.EmptyFieldListFilter))
    search_fields = ("=id", "=order__id", "=asker__id")
    readonly_fields = (
        "asker",
        "order",
        "merchant",
        "status",
        "handed_over_at",
        "failed_turns",
        "last_message_at",
    )
    list_select_related = ("asker", "merchant")
    inlines = [MessageInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        text = form.cleaned_data.get("ops_reply", "").strip()
        if not text:
            return
        try:
            conversation_reply(
                conversation_id=obj.pk, author=request.user, sender=Message.Sender.OPS, text=text
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Answer sent; the buyer is notified.")


@admin.register(IntentPhrase)
class IntentPhraseAdmin(admin.ModelAdmin):
    list_display = ("phrase", "intent", "weight", "is_active", "updated_at")
    list_filter = ("intent", "is_active")
    list_editable = ("weight", "is_active")
    search_fields = ("phrase",)
