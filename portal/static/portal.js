// Small progressive enhancements; every form still works without this file.
(function () {
  "use strict";
  // A select marked data-autosubmit submits its form on change (the service switcher).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) {
      el.form.requestSubmit();
    }
  });
  // Content swapped into the dialog host opens it; a [data-close-dialog] button closes it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = document.getElementById("dialog");
    if (dialog && event.detail.target && event.detail.target.id === "dialog-content" && !dialog.open) {
      dialog.showModal();
    }
  });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) { dialog.close(); }
    }
    // Clicking outside an open account menu closes it.
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
})();
