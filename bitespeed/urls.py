from django.contrib import admin
from django.urls import path, re_path

from contacts.views import IdentifyView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Both /identify/ and /identify answer: a redirect turns a POST into a GET for some clients.
    re_path(r"^identify/?$", IdentifyView.as_view(), name="identify"),
]

handler400 = "contacts.errors.bad_request"
handler403 = "contacts.errors.permission_denied"
handler404 = "contacts.errors.page_not_found"
handler500 = "contacts.errors.server_error"
