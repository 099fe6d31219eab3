// Small progressive enhancements; every form still works without this file.
(function () {
  "use strict";
  // A select marked data-autosubmit submits its form on change (the service switcher).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) {
      // Content htmx has just swapped in may not be processed yet; without this the submit would be a plain
      // page load (e.g. a day picked the moment My performance opens).
      if (window.htmx) { window.htmx.process(el.form); }
      el.form.requestSubmit();
    }
  });
  // A search box with data-filter-list hides the rows whose data-filter-text lacks what is typed.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-filter-list]")) { return; }
    var needle = box.value.trim().toLowerCase();
    document.querySelectorAll(box.getAttribute("data-filter-list") + " [data-filter-text]").forEach(function (row) {
      row.hidden = needle !== "" && row.getAttribute("data-filter-text").indexOf(needle) === -1;
    });
  });
  // The Content-Security-Policy allows no inline handlers and no eval (portal/security.py), so these three do
  // what onsubmit=, hx-on and an hx-trigger filter would.
  // A form with data-confirm="question" asks first; capture runs before htmx sees the submit.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // A form with data-clear-on-success="selector" removes the messages it names once its htmx request succeeds, and
  // its fields stop being marked invalid. Success is the status: the htmx-config in base.html swaps 4xx answers
  // (error:false) so refusals can show in place, which makes htmx call them `successful` too.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    var selector = form.getAttribute && form.getAttribute("data-clear-on-success");
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (!selector || status < 200 || status >= 400) { return; }
    var gone = [];
    document.querySelectorAll(selector).forEach(function (message) {
      if (message.id) { gone.push(message.id); }
      message.remove();
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (field) { field.removeAttribute("aria-invalid"); });
    form.querySelectorAll("[aria-describedby]").forEach(function (field) {
      var left = field.getAttribute("aria-describedby").split(/\s+/).filter(function (id) { return gone.indexOf(id) < 0; });
      if (left.length) { field.setAttribute("aria-describedby", left.join(" ")); } else { field.removeAttribute("aria-describedby"); }
    });
    form.querySelectorAll(".has-error").forEach(function (field) { field.classList.remove("has-error"); });
  });
  // A polling element marked data-hold-while-focused skips its poll while focus is inside it (an agent typing
  // a number in the phone widget would lose it to the refresh).
  document.addEventListener("htmx:confirm", function (event) {
    var el = event.detail.elt;
    if (el.hasAttribute && el.hasAttribute("data-hold-while-focused") && el.contains(document.activeElement)) {
      event.preventDefault();
    }
  });
  // A polling element with data-version (the supervisor board) asks "anything newer than this?" (If-None-Match) and
  // keeps the version of each answer (ETag); 304, nothing changed, swaps nothing (the htmx-config in base.html).
  document.addEventListener("htmx:configRequest", function (event) {
    var version = event.detail.elt.getAttribute && event.detail.elt.getAttribute("data-version");
    if (version) { event.detail.headers["If-None-Match"] = '"' + version + '"'; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var el = event.detail.elt, xhr = event.detail.xhr;
    var tag = xhr && xhr.status === 200 && el.hasAttribute && el.hasAttribute("data-version") && xhr.getResponseHeader("ETag");
    if (tag) { el.setAttribute("data-version", tag.replace(/^W\//, "").replace(/"/g, "")); }
  });
  // Ticking a language as the default also chooses it.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.name === "default_language" && el.checked) {
      var box = el.closest("tr") && el.closest("tr").querySelector("input[name=languages]");
      if (box) { box.checked = true; }
    }
  });
  // Ticking a feature's "use" box gives an empty quantity its starting value (data-start), so the estimate counts
  // it at once. Capture: this runs before htmx, which listens on the table's container, reads the form.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[type=checkbox][name^='use.']") || !box.checked) { return; }
    var qty = box.closest("tr") && box.closest("tr").querySelector("input.qty[data-start]");
    if (qty && !qty.value) { qty.value = qty.getAttribute("data-start"); }
  }, true);
  // Typing a quantity for a feature also ticks its "use" box.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el.matches && el.matches("input.qty") && el.value) {
      var use = el.closest("tr") && el.closest("tr").querySelector("input[type=checkbox][name^='use.']");
      if (use && !use.checked) { use.checked = true; }
    }
  });
  // Content swapped into the dialog host opens it; a [data-close-dialog] button closes it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = document.getElementById("dialog");
    if (dialog && event.detail.target && event.detail.target.id === "dialog-content" && !dialog.open) {
      // The menu that opened the dialog would otherwise stay open behind it.
      document.querySelectorAll("details.account-menu[open], details.state-menu[open]").forEach(function (menu) {
        menu.removeAttribute("open");
      });
      dialog.showModal();
    }
  });
  // A finished export asked for on this page downloads by itself (once).
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("a[data-autodownload]").forEach(function (link) {
      link.removeAttribute("data-autodownload");
      link.click();
    });
  });
  // A closed dialog is emptied, so what polled inside it (My performance) stops.
  var host = document.getElementById("dialog");
  if (host) {
    host.addEventListener("close", function () {
      var content = document.getElementById("dialog-content");
      if (content) { content.innerHTML = ""; }
    });
  }
  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) { event.preventDefault(); dialog.close(); }
    }
    // A [data-copy="#id"] button copies that field's value.
    var copier = event.target.closest && event.target.closest("[data-copy]");
    if (copier) {
      var field = document.querySelector(copier.getAttribute("data-copy"));
      if (field && navigator.clipboard) {
        navigator.clipboard.writeText(field.value).then(function () {
          copier.textContent = copier.getAttribute("data-copied") || copier.textContent;
        });
      } else if (field) { field.select(); }
    }
    // Clicking outside an open account menu closes it.
    document.querySelectorAll("details.account-menu[open], details.state-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
  // A <time data-since="ISO"> counts up (the phone widget's state and talk timers), a <time data-until="ISO">
  // counts down (the after-call work limit); the server's text is the fallback.
  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      el.textContent = clock(Math.max(0, Math.floor((now - Date.parse(el.getAttribute("data-since"))) / 1000)));
    });
    document.querySelectorAll("time[data-until]").forEach(function (el) {
      el.textContent = clock(Math.max(0, Math.ceil((Date.parse(el.getAttribute("data-until")) - now) / 1000)));
    });
  }
  tick();
  setInterval(tick, 1000);
})();
