"""The contacts' *Import* page: ``manage.py import_contacts`` for staff without a shell.

Upload a CSV or JSON Lines file, read the dry run's report, then apply it: both steps call
``services.bulk.contacts_import``, as the command does. Between them the page keeps nothing: the
report shows the file's SHA-256 and the apply step asks for the file again and refuses any other,
so that it works across gunicorn workers and instances with nothing stored on a disk or in the
session. The report shows rejected rows by line number and reason only; no value of a row reaches
a log.
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils import timezone

from contacts.admin.common import has_contact_permission
from contacts.db import backend
from contacts.import_files import FORMATS, file_digest, format_of, read_file
from contacts.services.bulk import contacts_import

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
"""The largest file the page takes (2 MiB, some 40,000 orders). The whole request must also fit
the admin's body cap (``contacts.middleware.body_cap``, 2.5 MB unless
``DATA_UPLOAD_MAX_MEMORY_SIZE`` says otherwise), and the import must end within the app server's
timeout: larger files go through ``manage.py import_contacts``."""
BATCH_SIZE = 5000
"""Rows per statement while the import loads the stored contacts and writes the new ones."""
REJECTS_SHOWN = 200
"""Rejected rows listed on the report; the rest are counted."""
MERGES_SHOWN = 50
"""Merges of stored clusters listed on the report; the rest are counted."""


class ImportFileForm(forms.Form):
    """An import file, read and validated row by row as ``import_contacts`` reads it."""

    file = forms.FileField(
        help_text=(
            f"CSV with a header row, or JSON Lines (.csv, .jsonl, .ndjson); UTF-8; at most "
            f"{filesizeformat(MAX_UPLOAD_BYTES)}."
        )
    )
    format = forms.ChoiceField(
        choices=[("", "From the file name"), *((name, name) for name in FORMATS)],
        required=False,
        help_text="Only when the file name does not end in .csv, .jsonl or .ndjson.",
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None:
            return cleaned
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; this page takes at most "
                f"{filesizeformat(MAX_UPLOAD_BYTES)}. Split it, or ask an operator to run "
                "manage.py import_contacts.",
                code="too_large",
            )
        file_format = cleaned.get("format") or format_of(upload.name)
        if file_format is None:
            raise forms.ValidationError(
                "Cannot tell the format from the file name: choose one.", code="format"
            )
        self.check_file(upload)
        try:
            rows, errors = read_file(
                stream=upload.file, file_format=file_format, default_created_at=timezone.now()
            )
        except UnicodeDecodeError as error:
            raise forms.ValidationError("The file is not UTF-8 text.", code="encoding") from error
        cleaned.update(rows=rows, errors=errors, digest=file_digest(upload.file))
        return cleaned

    def check_file(self, upload: UploadedFile) -> None:
        """Further checks of the file's bytes before they are read."""


class ImportApplyForm(ImportFileForm):
    """The file again, which must be the one the dry run checked."""

    digest = forms.CharField(
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^[0-9a-f]{64}$", "Not a SHA-256 digest.")],
    )

    def check_file(self, upload: UploadedFile) -> None:
        if file_digest(upload.file) != self.cleaned_data.get("digest"):
            raise forms.ValidationError(
                "This is not the file the dry run checked (its SHA-256 differs): check it again.",
                code="changed",
            )


def contact_import_view(model_admin: admin.ModelAdmin) -> Callable[[HttpRequest], HttpResponse]:
    """The page, for ``ContactAdmin.get_urls``; wrap it in ``admin_site.admin_view``, which adds
    the login check and CSRF protection."""

    def view(request: HttpRequest) -> HttpResponse:
        if not has_import_permission(request):
            raise PermissionDenied
        applying = request.method == "POST" and request.POST.get("step") == "apply"
        form_class = ImportApplyForm if applying else ImportFileForm
        form = form_class(request.POST or None, request.FILES or None)
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": "Import contacts",
            "max_upload_bytes": MAX_UPLOAD_BYTES,
        }
        if request.method != "POST" or not form.is_valid():
            context.update(form=form, step="apply" if applying else "check")
            return TemplateResponse(request, "admin/contacts/contact/import_form.html", context)
        cleaned = form.cleaned_data
        upload = cleaned["file"]
        with backend().operator_session():
            result = contacts_import(
                rows=cleaned["rows"],
                label=f"{upload.name[:100]} (admin: {request.user.get_username()})",
                write=applying,
                chunk_size=BATCH_SIZE,
            )
        if result.written:
            model_admin.message_user(request, f"Imported {upload.name}.", messages.SUCCESS)
        context.update(
            title="Import contacts: imported" if result.written else "Import contacts: dry run",
            file_name=upload.name,
            file_format=cleaned.get("format") or format_of(upload.name),
            digest=cleaned["digest"],
            rows=len(cleaned["rows"]),
            errors=cleaned["errors"][:REJECTS_SHOWN],
            errors_count=len(cleaned["errors"]),
            result=result,
            merges=result.merges[:MERGES_SHOWN],
            merged_clusters=sum(len(primaries) for primaries in result.merges),
            apply_form=ImportApplyForm(initial={"digest": cleaned["digest"]}),
            applied=applying,
        )
        return TemplateResponse(request, "admin/contacts/contact/import_report.html", context)

    return view


def has_import_permission(request: HttpRequest) -> bool:
    """An import creates contacts and relinks stored ones: it needs both permissions."""
    return has_contact_permission(request, "add") and has_contact_permission(request, "change")
