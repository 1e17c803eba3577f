// The board: drag a card to another column (or use its "Move to..." menu) to move the deal
// through the deals API, optimistically, rolled back with the deal's reason when refused;
// won and lost ask first. Every second the board asks /board/changes what moved since, so
// a deal that moves by itself (an invoice paid, tasks done) or by someone else shows in its
// new column without a reload. Cards arrive as the server renders them (autoescaped); text
// from people only ever goes into the page through textContent.
(function () {
  "use strict";

  var POLL_MS = 1000;
  var HIDDEN_POLL_MS = 5000;

  var board = document.getElementById("board");
  if (!board) return;
  var cursor = board.dataset.cursor;
  var filters = board.dataset.filters || "";
  var pending = {};  // deal id -> true while its move waits for the deal's answer
  var dragging = null;
  var pollTimer = null;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  function columnOf(stage) {
    return board.querySelector('.board-column[data-stage="' + CSS.escape(stage) + '"]');
  }

  function cardOf(dealId) {
    return board.querySelector('.board-card[data-deal-id="' + CSS.escape(dealId) + '"]');
  }

  // A card goes last in its column, before the column's "show more" item.
  function place(card, column) {
    var list = column.querySelector(".board-cards");
    list.insertBefore(card, list.querySelector(":scope > .board-more"));
  }

  // --- moving a deal ------------------------------------------------------------------

  function send(dealId, from, to, answer) {
    var path = "/deals/" + encodeURIComponent(dealId);
    if (to.dataset.closes) {
      var body = { outcome: to.dataset.closes };
      if (answer.reason !== undefined) body.reason = answer.reason;
      return Workspace.api("POST", path + "/close", body);
    }
    if (from.dataset.acceptTo === to.dataset.stage) {
      return Workspace.api("POST", path + "/accept");  // taking the deal into work
    }
    return Workspace.api("POST", path + "/move", { stage: to.dataset.stage });
  }

  function ask(dialogId, card, textKey) {
    var dialog = document.getElementById(dialogId);
    dialog.querySelector(".board-dialog-question").textContent =
      fill(board.dataset[textKey], { title: card.dataset.title });
    var reason = dialog.querySelector("textarea");
    if (reason) reason.value = "";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () {
        if (dialog.returnValue !== "ok") return resolve(null);
        resolve(reason ? { reason: reason.value } : {});
      }, { once: true });
      dialog.showModal();
    });
  }

  function confirmClosing(card, target) {
    if (target.dataset.closes === "lost") return ask("board-lost-dialog", card, "textLost");
    if (target.dataset.closes === "won") return ask("board-won-dialog", card, "textWon");
    return Promise.resolve({});
  }

  function move(card, target) {
    var from = card.closest(".board-column");
    var dealId = card.dataset.dealId;
    if (!from || !target || from === target || pending[dealId]) return;
    confirmClosing(card, target).then(function (answer) {
      if (answer === null) return;  // the person thought better of it
      var home = card.parentNode;
      var before = card.nextSibling;
      place(card, target);
      card.classList.add("is-pending");
      pending[dealId] = true;
      send(dealId, from, target, answer).then(function (result) {
        delete pending[dealId];
        card.classList.remove("is-pending");
        if (result.ok) {
          if (target.dataset.closes) card.remove();
          Workspace.flash(fill(board.dataset.textMoved,
            { title: card.dataset.title, stage: target.dataset.name }), "info");
        } else {
          home.insertBefore(card, before && before.parentNode === home ? before : null);
          Workspace.flash(fill(board.dataset.textRefused, { reason: result.reason }), "error");
        }
        pollSoon();
      });
    });
  }

  // --- dragging -----------------------------------------------------------------------

  function clearTargets() {
    board.querySelectorAll(".is-drop-target").forEach(function (c) {
      c.classList.remove("is-drop-target");
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".board-card");
    if (!card) return;
    dragging = card;
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.dealId);
  });

  board.addEventListener("dragend", function () {
    if (dragging) dragging.classList.remove("is-dragging");
    dragging = null;
    clearTargets();
  });

  board.addEventListener("dragover", function (event) {
    var column = dragging && event.target.closest(".board-column");
    if (!column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!column.classList.contains("is-drop-target")) {
      clearTargets();
      if (column !== dragging.closest(".board-column")) column.classList.add("is-drop-target");
    }
  });

  board.addEventListener("dragleave", function (event) {
    var column = event.target.closest(".board-column");
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("is-drop-target");
  });

  board.addEventListener("drop", function (event) {
    var column = dragging && event.target.closest(".board-column");
    if (!column) return;
    event.preventDefault();
    var card = dragging;
    clearTargets();
    move(card, column);
  });

  // --- "Move to..." without a mouse -----------------------------------------------------

  var moveDialog = document.getElementById("board-move-dialog");

  board.addEventListener("click", function (event) {
    var button = event.target.closest(".board-move");
    if (!button) return;
    var card = button.closest(".board-card");
    var here = card.closest(".board-column").dataset.stage;
    moveDialog.dataset.dealId = card.dataset.dealId;
    moveDialog.querySelector(".board-dialog-deal").textContent = card.dataset.title;
    moveDialog.querySelectorAll("[data-target-stage]").forEach(function (target) {
      target.disabled = target.dataset.targetStage === here;
    });
    moveDialog.showModal();
    var first = moveDialog.querySelector("[data-target-stage]:not([disabled])");
    if (first) first.focus();
  });

  moveDialog.addEventListener("click", function (event) {
    var target = event.target.closest("[data-target-stage]");
    var cancel = event.target.closest("[data-dialog-cancel]");
    if (!target && !cancel) return;
    moveDialog.close();
    var card = cardOf(moveDialog.dataset.dealId);
    if (target && card) {
      move(card, columnOf(target.dataset.targetStage));
      card.querySelector(".board-move").focus();
    }
  });

  // --- live: what moved since the last look ---------------------------------------------

  function parseCard(html) {
    // Rendered by the server's autoescaping template (board_card.html.jinja).
    var doc = new DOMParser().parseFromString("<ol>" + html + "</ol>", "text/html");
    return document.importNode(doc.querySelector("li"), true);
  }

  function applyCard(change) {
    if (pending[change.deal_id]) return;  // its move's answer decides
    var card = cardOf(change.deal_id);
    var column = change.stage ? columnOf(change.stage) : null;
    if (!change.html || !column) {
      if (card) card.remove();
      return;
    }
    if (card && card.dataset.version === change.version &&
        card.closest(".board-column") === column) return;
    if (card && card === dragging) return;  // it lands where it is dropped
    var fresh = parseCard(change.html);
    if (card && card.closest(".board-column") === column) {
      card.replaceWith(fresh);
    } else {
      if (card) card.remove();
      place(fresh, column);
    }
  }

  function apply(changes) {
    if (!changes) return;
    cursor = changes.cursor;
    changes.cards.forEach(applyCard);
    Object.keys(changes.columns).forEach(function (stage) {
      var column = columnOf(stage);
      if (!column) return;
      column.querySelector(".board-count").textContent = changes.columns[stage].count;
      column.querySelector(".board-sum").textContent = changes.columns[stage].sums;
    });
  }

  function poll() {
    pollTimer = null;
    var url = "/board/changes?since=" + encodeURIComponent(cursor) + (filters ? "&" + filters : "");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(apply)
      .catch(function (error) { console.error("board: the update failed", error); })
      .then(schedule);
  }

  function schedule() {
    if (pollTimer === null) {
      pollTimer = setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
    }
  }

  function pollSoon() {
    if (pollTimer !== null) {
      clearTimeout(pollTimer);
      pollTimer = null;
    }
    poll();
  }

  // The filters apply as soon as a choice changes (the button stays for keyboards).
  var form = document.querySelector(".board-filters");
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target.tagName === "SELECT" || event.target.type === "checkbox") form.submit();
    });
  }

  schedule();
})();
