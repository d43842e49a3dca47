"""Admin registration. Links are read-only here: only ``contacts.services`` changes them."""

from django.contrib import admin

from contacts.models import Contact, IdentityLink


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "phone_number", "link_precedence", "linked", "created_at"]
    list_filter = ["link_precedence"]
    search_fields = ["=email", "=phone_number", "=id"]
    raw_id_fields = ["linked"]
    readonly_fields = ["linked", "link_precedence", "created_at", "updated_at", "deleted_at"]
    list_select_related = ["linked"]
    show_full_result_count = False


@admin.register(IdentityLink)
class IdentityLinkAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "phone_number", "source", "created_at"]
    search_fields = ["=email", "=phone_number"]
    readonly_fields = ["created_at"]
