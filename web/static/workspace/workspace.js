// The workspace's shared script: calls to the JSON API with the session's CSRF token,
// a flash line for errors, sign-in and sign-out. Page scripts (board.js, deal.js, ...)
// use window.Workspace.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // The reason a refused request gives: the API answers {"detail": "..."} (a string, or
  // pydantic's list of field errors).
  function reasonOf(data, status) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && Array.isArray(data.detail)) {
      return data.detail.map(function (e) {
        return (e.loc || []).slice(1).join(".") + ": " + e.msg;
      }).join("; ");
    }
    return "HTTP " + status;
  }

  // api("POST", "/deals/D1/move", {...}) -> Promise<{ok, status, data, reason}>
  function api(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        return {
          ok: response.ok, status: response.status, data: data,
          reason: response.ok ? "" : reasonOf(data, response.status),
        };
      });
    }, function () {
      return { ok: false, status: 0, data: null, reason: document.body.dataset.lang === "ru"
        ? "нет связи с сервером" : "the server does not answer" };
    });
  }

  function flash(message, kind) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;  // text, never HTML: reasons may quote user input
    box.className = kind || "error";
    box.hidden = !message;
  }

  // htmx requests carry the CSRF token too (forms that post through htmx).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A form of the door (sign-in, an invitation): on submit, ``send(form, fail)`` does the
  // work; ``fail(reason)`` shows why not in the form's alert line.
  function wireDoor(formId, errorId, send) {
    var form = document.getElementById(formId);
    if (!form) return;
    var error = document.getElementById(errorId);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(form, function (reason) { error.textContent = reason; error.hidden = false; });
    });
  }

  // Signs in and goes to ``next`` (a path of this site only).
  function signIn(user, password, next, fail) {
    return api("POST", "/auth/sign-in", { user: user, password: password }).then(function (r) {
      if (!r.ok) return fail(r.reason);
      window.location.assign(next.charAt(0) === "/" && next.charAt(1) !== "/" ? next : "/");
    });
  }

  function wireSignIn() {
    wireDoor("sign-in-form", "sign-in-error", function (form, fail) {
      signIn(form.elements.user.value, form.elements.password.value,
        form.dataset.next || "/", fail);
    });
  }

  // The invitation link's form: set the password through the API, then sign in with it.
  function wireInvitation() {
    wireDoor("invitation-form", "invitation-error", function (form, fail) {
      var password = form.elements.password.value;
      if (password !== form.elements.repeat.value) return fail(form.dataset.mismatch);
      var url = "/auth/invitations/" + encodeURIComponent(form.dataset.token);
      api("POST", url, { password: password }).then(function (set) {
        if (!set.ok) return fail(set.reason);
        return signIn(set.data.employee_id, password, "/", fail);
      });
    });
  }

  function wireSignOut() {
    var button = document.getElementById("sign-out");
    if (!button) return;
    button.addEventListener("click", function () {
      api("POST", "/auth/sign-out").then(function () { window.location.assign("/sign-in"); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireSignIn();
    wireInvitation();
    wireSignOut();
  });

  window.Workspace = { api: api, flash: flash, csrfToken: csrfToken };
})();
