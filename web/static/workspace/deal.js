// The deal card: every button and form calls the JSON API (Workspace.api, with the
// session's CSRF token), shows a refusal with the API's reason (a field's error next to
// the field), and on success reads the card again from the server, so that the title,
// the plan and the timeline show what the deal made of the change.
(function () {
  "use strict";

  function card() { return document.getElementById("deal-card"); }
  function dealUrl() { return "/deals/" + encodeURIComponent(card().dataset.dealId); }

  // The card as the server renders it now, swapped in whole (server-rendered and
  // autoescaped: no data of ours is put into HTML here).
  function refresh() {
    return fetch(window.location.pathname, {
      credentials: "same-origin", headers: { "Accept": "text/html" },
    }).then(function (response) {
      return response.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("deal-card");
      if (fresh && card()) card().replaceWith(document.adoptNode(fresh));
    });
  }

  // A completed task or a recorded payment is a signal: its effect shows a moment later.
  // Read the card again until ``shown()`` holds (at most ~5 s).
  function refreshUntil(shown, tries) {
    return refresh().then(function () {
      if (!shown() && tries > 0) {
        return new Promise(function (resolve) { setTimeout(resolve, 250); }).then(function () {
          return refreshUntil(shown, tries - 1);
        });
      }
    });
  }

  function movesOn(event) {
    return (card().dataset.movesOn || "").split(" ").indexOf(event) >= 0;
  }

  function moved(stageBefore) {
    return card().dataset.stage !== stageBefore || card().dataset.status !== "open";
  }

  // The task has left ``status``; and when it was the last of a stage that moves on once
  // its tasks are done (a set's next task may still be on its way: then it shows), the
  // deal is in its next stage.
  function taskLeft(taskId, status) {
    var stageBefore = card().dataset.stage;
    var waitsForMove = movesOn("tasks_done");
    return function () {
      var task = document.querySelector('[data-task-id="' + CSS.escape(taskId) + '"]');
      if (task && task.dataset.status === status) return false;
      var seq = card().dataset.seq;
      var pending = document.querySelectorAll(
        '[data-task-id][data-seq="' + seq + '"][data-status="open"],' +
        '[data-task-id][data-seq="' + seq + '"][data-status="awaiting_confirmation"]');
      return !waitsForMove || pending.length > 0 || moved(stageBefore);
    };
  }

  // The payment is in the invoice's row; and when it paid the invoice in full in a stage
  // that moves on once paid, the deal is in its next stage.
  function paymentShown(invoiceId, paidBefore, stageBefore) {
    var waitsForMove = movesOn("invoice_paid");
    var id = CSS.escape(invoiceId);
    return function () {
      var row = document.querySelector('[data-invoice-id="' + id + '"]');
      if (!row || row.dataset.paid === paidBefore) return false;
      var paidInFull = !document.querySelector('.payment-row[data-for-invoice="' + id + '"]');
      return !(waitsForMove && paidInFull) || moved(stageBefore);
    };
  }

  // One id per payment form: a second click (or a retry) is the same payment, applied once.
  function paymentId(form) {
    if (!form.dataset.paymentId) {
      var bytes = crypto.getRandomValues(new Uint8Array(12));
      form.dataset.paymentId = "web-" + Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    }
    return form.dataset.paymentId;
  }

  function recordPayment(form, button) {
    var invoiceId = form.dataset.invoice;
    var row = document.querySelector('[data-invoice-id="' + CSS.escape(invoiceId) + '"]');
    var shown = paymentShown(invoiceId, row.dataset.paid, card().dataset.stage);
    // "250 000,50" as a person types it -> "250000.50"
    var amount = value(form, "amount").replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
    var url = dealUrl() + "/invoices/" + encodeURIComponent(invoiceId) + "/paid";
    var body = { amount: amount, payment_id: paymentId(form), currency: form.dataset.currency };
    act(button, "POST", url, body, function () { return refreshUntil(shown, 20); });
  }

  function busy(element, on) {
    if (!element) return;
    element.setAttribute("aria-busy", on ? "true" : "false");
    if ("disabled" in element) element.disabled = on;
  }

  // Calls the API; on success runs ``then`` (default: read the card again), on refusal
  // shows the reason. Answers the result for callers that show field errors.
  function act(button, method, url, body, then) {
    busy(button, true);
    Workspace.flash("");
    return Workspace.api(method, url, body).then(function (result) {
      busy(button, false);
      if (!result.ok) {
        Workspace.flash(result.reason, "error");
        return result;
      }
      return (then || refresh)().then(function () { return result; });
    });
  }

  function value(form, name) {
    var element = form.elements[name];
    return element ? element.value.trim() : "";
  }

  // --- the edit form --------------------------------------------------------------

  function typed(input) {
    var raw = input.value.trim();
    if (raw === "") return null;
    if (input.dataset.kind === "number") return isNaN(Number(raw)) ? raw : Number(raw);
    if (input.dataset.kind === "bool") return raw === "true";
    return raw;
  }

  function changed(input) { return input.value !== (input.dataset.original || ""); }

  // Only what the person changed: an edit that changes nothing is refused by the deal.
  function editChanges(form) {
    var body = {};
    ["amount", "currency", "service", "responsible", "department_head"].forEach(function (name) {
      var input = form.elements[name];
      if (input && changed(input)) body[name] = input.value.trim();
    });
    var team = form.elements.sales_team;
    if (team) {
      var chosen = Array.prototype.map.call(team.selectedOptions, function (o) { return o.value; });
      if (chosen.join(",") !== team.dataset.original) body.sales_team = chosen;
    }
    var contact = {}, contactChanged = false;
    ["name", "company", "phone", "email"].forEach(function (part) {
      var input = form.elements["contact." + part];
      contact[part] = input.value.trim() || null;
      contactChanged = contactChanged || changed(input);
    });
    if (contactChanged) body.contact = contact;
    var fields = {}, fieldsChanged = false;
    form.querySelectorAll('[name^="fields."]').forEach(function (input) {
      if (!changed(input)) return;
      fields[input.name.slice("fields.".length)] = typed(input);
      fieldsChanged = true;
    });
    if (fieldsChanged) body.fields = fields;
    if (value(form, "reason")) body.reason = value(form, "reason");
    return body;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) { slot.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
    });
    var general = form.querySelector(".form-error");
    general.textContent = "";
    general.hidden = true;
  }

  function fieldError(form, name, message) {
    var slot = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
    if (!slot) return false;
    slot.textContent = message;
    var input = form.elements[name];
    if (input) input.setAttribute("aria-invalid", "true");
    return true;
  }

  // The API's refusal laid on the form: pydantic's field errors (422, a list with each
  // field's place) and the deal's "field: problem; ..." (409) next to their fields, the
  // rest above the form.
  function showEditErrors(form, result) {
    var rest = [];
    var detail = result.data && result.data.detail;
    if (Array.isArray(detail)) {
      detail.forEach(function (error) {
        var name = (error.loc || []).slice(1).join(".");
        if (!fieldError(form, name, error.msg)) rest.push(name + ": " + error.msg);
      });
    } else {
      result.reason.split("; ").forEach(function (part) {
        var colon = part.indexOf(": ");
        var name = colon > 0 ? part.slice(0, colon) : "";
        var placed = name && (fieldError(form, name, part.slice(colon + 2)) ||
                              fieldError(form, "fields." + name, part.slice(colon + 2)));
        if (!placed) rest.push(part);
      });
    }
    if (rest.length) {
      var general = form.querySelector(".form-error");
      general.textContent = rest.join("; ");
      general.hidden = false;
    }
  }

  function submitEdit(form, button) {
    clearErrors(form);
    busy(button, true);
    Workspace.api("PATCH", dealUrl(), editChanges(form)).then(function (result) {
      busy(button, false);
      if (result.ok) {
        refresh();
      } else {
        showEditErrors(form, result);
      }
    });
  }

  // --- wiring ---------------------------------------------------------------------

  var forms = {
    "move": function (form, button) {
      var body = { stage: value(form, "stage") };
      if (value(form, "reason")) body.reason = value(form, "reason");
      act(button, "POST", dealUrl() + "/move", body);
    },
    "close": function (form, button) {
      var body = { outcome: value(form, "outcome") };
      if (value(form, "reason")) body.reason = value(form, "reason");
      act(button, "POST", dealUrl() + "/close", body);
    },
    "comment": function (form, button) {
      var body = { text: form.elements.text.value };
      if (value(form, "task_id")) body.task_id = value(form, "task_id");
      act(button, "POST", dealUrl() + "/comments", body);
    },
    "edit": submitEdit,
  };

  var buttons = {
    "accept": function (button) { act(button, "POST", dealUrl() + "/accept"); },
    "run-template": function (button) { act(button, "POST", dealUrl() + "/run-template"); },
  };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!card() || !card().contains(form)) return;
    var button = form.querySelector("button[type=submit]");
    if (form.classList.contains("payment-form")) {
      event.preventDefault();
      recordPayment(form, button);
      return;
    }
    if (form.classList.contains("return-form")) {
      event.preventDefault();
      var taskUrl = dealUrl() + "/tasks/" + encodeURIComponent(form.dataset.task);
      act(button, "POST", taskUrl + "/return", { comment: value(form, "comment") });
      return;
    }
    var handler = forms[form.dataset.action];
    if (!handler) return;
    event.preventDefault();
    handler(form, button);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button || !card() || !card().contains(button)) return;
    if (buttons[button.dataset.action]) {
      buttons[button.dataset.action](button);
      return;
    }
    var action = button.dataset.taskAction;
    if (!action) return;
    var taskId = button.dataset.task;
    var url = dealUrl() + "/tasks/" + encodeURIComponent(taskId) + "/" + action;
    var from = action === "complete" ? "open" : "awaiting_confirmation";
    act(button, "POST", url, undefined, function () {
      return refreshUntil(taskLeft(taskId, from), 20);
    });
  });
})();
