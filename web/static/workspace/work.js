// My work: task buttons (complete, confirm, return with a comment), marking notifications
// read, and the new deal form. Every change goes through the JSON API (Workspace.api), so
// the deal's own rules decide; data reaches the page as text only (textContent).
(function () {
  "use strict";

  function texts() {
    var node = document.getElementById("work-texts");
    return node ? JSON.parse(node.textContent) : {};
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function enc(value) { return encodeURIComponent(value); }

  // --- tasks ---------------------------------------------------------------------------

  function settle(row, message) {
    row.querySelectorAll("button[data-action]").forEach(function (b) { b.remove(); });
    row.classList.remove("overdue");
    row.dataset.state = "settled";
    row.querySelector(".work-task-state").textContent = message;
  }

  function taskUrl(row, action) {
    return "/deals/" + enc(row.dataset.dealId) + "/tasks/" + enc(row.dataset.taskId) + "/" + action;
  }

  function taskAction(row, action, body, said) {
    var buttons = row.querySelectorAll("button[data-action]");
    buttons.forEach(function (b) { b.disabled = true; });
    return Workspace.api("POST", taskUrl(row, action), body).then(function (result) {
      if (result.ok) {
        settle(row, said);
        Workspace.flash(said + ": " + row.querySelector(".work-task-title").textContent, "info");
      } else {
        buttons.forEach(function (b) { b.disabled = false; });
        Workspace.flash(fill(texts().failed, { reason: result.reason }), "error");
      }
      return result;
    });
  }

  function wireTasks() {
    var dialog = document.getElementById("return-dialog");
    if (!dialog) return;
    var form = document.getElementById("return-form");
    var error = document.getElementById("return-error");
    var returning = null;

    document.addEventListener("click", function (event) {
      var button = event.target.closest("tr[data-task-id] button[data-action]");
      if (!button) return;
      var row = button.closest("tr");
      var said = texts();
      if (button.dataset.action === "complete") {
        taskAction(row, "complete", undefined,
          row.dataset.needsConfirmation === "true" ? said.sent : said.completed);
      } else if (button.dataset.action === "confirm") {
        taskAction(row, "confirm", {}, said.confirmed);
      } else if (button.dataset.action === "return") {
        returning = row;
        document.getElementById("return-task").textContent =
          row.querySelector(".work-task-title").textContent;
        form.elements.comment.value = "";
        error.hidden = true;
        dialog.showModal();
      }
    });
    document.getElementById("return-cancel").addEventListener("click", function () {
      dialog.close();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!returning) return;
      var row = returning;
      var body = { comment: form.elements.comment.value };
      Workspace.api("POST", taskUrl(row, "return"), body).then(function (result) {
        if (result.ok) {
          dialog.close();
          settle(row, texts().returned);
          returning = null;
        } else {
          error.textContent = result.reason;
          error.hidden = false;
        }
      });
    });
  }

  // --- inbox ---------------------------------------------------------------------------

  function showUnread(count) {
    var said = texts();
    var badge = document.getElementById("inbox-unread");
    if (badge) badge.textContent = count ? String(count) : "";
    var summary = document.getElementById("inbox-summary");
    if (summary) {
      summary.dataset.unread = String(count);
      summary.textContent = count ? fill(said.unread, { count: count }) : said.all_read;
    }
    var all = document.getElementById("mark-all-read");
    if (all) all.disabled = !count;
  }

  function markedRead(item) {
    item.classList.remove("unread");
    item.classList.add("read");
    item.querySelectorAll(".work-new, button[data-action=mark-read]").forEach(function (n) {
      n.remove();
    });
  }

  function wireInbox() {
    var list = document.getElementById("inbox");
    if (!list) return;
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action=mark-read]");
      if (!button) return;
      var item = button.closest("li[data-notification-id]");
      button.disabled = true;
      Workspace.api("POST", "/inbox/" + enc(item.dataset.notificationId) + "/read")
        .then(function (result) {
          if (result.ok) {
            markedRead(item);
            showUnread(result.data.unread);
          } else {
            button.disabled = false;
            Workspace.flash(fill(texts().failed, { reason: result.reason }), "error");
          }
        });
    });
    document.getElementById("mark-all-read").addEventListener("click", function (event) {
      var button = event.currentTarget;
      button.disabled = true;
      Workspace.api("POST", "/inbox/read-all").then(function (result) {
        if (result.ok) {
          list.querySelectorAll("li.unread").forEach(markedRead);
          showUnread(result.data.unread);
        } else {
          button.disabled = false;
          Workspace.flash(fill(texts().failed, { reason: result.reason }), "error");
        }
      });
    });
  }

  // --- the new deal form ---------------------------------------------------------------

  // What the person typed, shaped as POST /deals takes it; empty optional fields are left
  // out. Only the amount's spelling is eased ("250 000,50"): the API judges the value.
  function dealBody(form) {
    var body = { contact: {}, sales_team: [], fields: {} };
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.disabled) return;
      var name = input.name;
      if (name === "sales_team") {
        if (input.checked) body.sales_team.push(input.value);
        return;
      }
      var value = input.value;
      if (name.indexOf("fields.") === 0) {
        var field = name.slice(7);
        if (input.type === "checkbox") { if (input.checked) body.fields[field] = true; }
        else if (value !== "") body.fields[field] = input.type === "number" ? Number(value) : value;
      } else if (name.indexOf("contact.") === 0) {
        if (value.trim() !== "") body.contact[name.slice(8)] = value;
      } else if (name === "amount") {
        body.amount = value.replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
      } else {
        body[name] = value;
      }
    });
    return body;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (node) {
      node.textContent = "";
      node.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
    });
    var general = document.getElementById("new-deal-error");
    general.textContent = "";
    general.hidden = true;
  }

  // pydantic's loc (["body", "contact", "name"]) -> the field "contact.name"; a loc deeper
  // than a field (["body", "sales_team", 0]) belongs to the field above it.
  function errorSlot(form, loc) {
    var parts = (loc || []).slice(loc && loc[0] === "body" ? 1 : 0).map(String);
    for (var n = parts.length; n > 0; n--) {
      var name = parts.slice(0, n).join(".");
      var slot = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (slot) return { slot: slot, name: name };
    }
    return null;
  }

  function showErrors(form, result) {
    var said = texts();
    var general = [];
    var errors = result.data && Array.isArray(result.data.detail) ? result.data.detail : null;
    if (!errors) {
      general.push(result.reason);
    } else {
      errors.forEach(function (e) {
        var message = said.errors && said.errors[e.type]
          ? fill(said.errors[e.type], e.ctx || {}) : e.msg;
        var found = errorSlot(form, e.loc);
        if (!found) { general.push(message); return; }
        found.slot.textContent = found.slot.textContent
          ? found.slot.textContent + "; " + message : message;
        found.slot.hidden = false;
        var input = form.querySelector('[name="' + CSS.escape(found.name) + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
      });
    }
    if (general.length) {
      var box = document.getElementById("new-deal-error");
      box.textContent = fill(said.failed, { reason: general.join("; ") });
      box.hidden = false;
    }
    var first = form.querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }

  function wireNewDeal() {
    var form = document.getElementById("new-deal-form");
    if (!form) return;
    var responsible = form.elements.responsible;
    var head = form.elements.department_head;
    responsible.addEventListener("change", function () {
      // The responsible's own head, when the directory names one the list has.
      var theirs = responsible.selectedOptions[0] && responsible.selectedOptions[0].dataset.head;
      if (theirs && head.querySelector('option[value="' + CSS.escape(theirs) + '"]')) {
        head.value = theirs;
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var submit = document.getElementById("create-deal");
      submit.setAttribute("aria-busy", "true");
      submit.disabled = true;
      var body = dealBody(form);
      Workspace.api("POST", "/deals", body).then(function (result) {
        if (result.ok) {
          var id = (result.data && result.data.deal_id) || body.deal_id;
          window.location.assign("/deals/" + enc(id));
          return;
        }
        submit.removeAttribute("aria-busy");
        submit.disabled = false;
        showErrors(form, result);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireTasks();
    wireInbox();
    wireNewDeal();
  });
})();
