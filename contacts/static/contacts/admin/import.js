/* The contacts' import page (contacts/templates/admin/contacts/contact/import_*.html), under the
 * page's Content-Security-Policy (no inline script): refuse a file over the page's limit before
 * it is sent, and show that the server is at work once the form is submitted. */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-import]")) {
    const input = form.querySelector("input[type=file]");
    const limit = Number(form.dataset.maxBytes);
    input.addEventListener("change", () => {
      const file = input.files[0];
      const tooLarge = file !== undefined && file.size > limit;
      input.setCustomValidity(tooLarge ? `The file is larger than ${form.dataset.maxLabel}.` : "");
      input.reportValidity();
    });
    form.addEventListener("submit", (event) => {
      if (!input.checkValidity()) {
        event.preventDefault();
        input.reportValidity();
        return;
      }
      form.querySelector(".import-busy").hidden = false;
      form.querySelector("input[type=submit]").disabled = true;
    });
  }
});
