// Labeling page: keyboard shortcuts, a client-generated idempotency key, and
// the time spent on the query. Without JavaScript the form still works.
(function () {
  "use strict";
  var form = document.getElementById("label-form");
  if (!form) return;
  var start = Date.now();
  var el = form.elements;
  var arity = parseInt(form.getAttribute("data-arity"), 10) || 2;

  // One key per (query, slot), kept for this tab, so that a resubmit after a
  // lost response is recognised as the same label.
  var storeKey = "rlhf-key-" + el.query_id.value + "-" + el.slot.value;
  var key = null;
  try { key = window.sessionStorage.getItem(storeKey); } catch (e) {}
  if (!key) {
    key = (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID() : el.client_key.value;
    try { window.sessionStorage.setItem(storeKey, key); } catch (e) {}
  }
  el.client_key.value = key;

  var sent = false;
  form.addEventListener("submit", function (ev) {
    if (sent) { ev.preventDefault(); return; }
    sent = true;
    el.duration_ms.value = String(Date.now() - start);
    form.classList.add("sending");
  });

  function choose(value) {
    var buttons = form.querySelectorAll("button[name=choice]");
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].value === value) {
        buttons[i].classList.add("pressed");
        if (form.requestSubmit) { form.requestSubmit(buttons[i]); } else { buttons[i].click(); }
        return;
      }
    }
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    var t = ev.target;
    if (t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT")) {
      if (ev.key === "Escape") t.blur();
      return;
    }
    var v = null;
    if (arity === 2 && ev.key === "ArrowLeft") v = "0";
    else if (arity === 2 && ev.key === "ArrowRight") v = "1";
    else if (/^[1-9]$/.test(ev.key) && parseInt(ev.key, 10) <= arity) v = String(parseInt(ev.key, 10) - 1);
    else if (ev.key === "t") v = "tie";
    else if (ev.key === "c") v = "cant_tell";
    else if (ev.key === "s") v = "skip";
    else if (ev.key === "n") { ev.preventDefault(); el.note.focus(); return; }
    if (v !== null) { ev.preventDefault(); choose(v); }
  });
})();
