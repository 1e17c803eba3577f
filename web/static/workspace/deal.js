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

  // A task completed is a signal: its effect shows a moment later. Read the card again
  // until the task has left ``status`` (at most ~5 s).
  function refreshUntilTaskLeaves(taskId, status, tries) {
    return refresh().then(function () {
      var task = document.querySelector('[data-task-id="' + CSS.escape(taskId) + '"]');
      if (task && task.dataset.status === status && tries > 0) {
        return new Promise(function (resolve) { setTimeout(resolve, 250); }).then(function () {
          return refreshUntilTaskLeaves(taskId, status, tries - 1);
        });
      }
    });
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
    if (action === "complete") {
      act(button, "POST", url, undefined, function () {
        return refreshUntilTaskLeaves(taskId, "open", 20);
      });
    } else {
      act(button, "POST", url);
    }
  });
})();
