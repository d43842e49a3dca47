"""API keys in the admin: made here or by ``create_api_key``; the key is shown once, on creation.

``djangorestframework-api-key``'s admin does the making and the one-time message; this adds the
scopes (as check boxes) and the last use, and replaces the library's own, unused key model.
"""

from django import forms
from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from contacts.models import ApiKey, Scope

admin.site.unregister(APIKey)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.TypedMultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="identify includes lookup.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expiry_date", "revoked"]


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    form = ApiKeyForm
    list_display = [
        "prefix",
        "name",
        "scope_list",
        "created",
        "last_used_at",
        "expiry_date",
        "_has_expired",
        "revoked",
    ]
    list_filter = ["revoked", "created"]
    search_fields = ["name", "=prefix"]

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "last_used_at")

    @admin.display(description="scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)
