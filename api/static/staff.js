// Live SLA countdowns: the page works without this; with it, each deadline counts down every second.
(function () {
  var nowEl = document.getElementById('aftercare-now');  // the server's time, from the task list
  var serverNow = nowEl ? Date.parse(nowEl.dataset.now) : Date.now();
  var skew = serverNow - Date.now();
  function fmt(ms) {
    var s = Math.abs(Math.round(ms / 1000)), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60), sec = s % 60;
    var text = (d ? d + 'd ' : '') + String(h).padStart(2, '0') + ':' + String(m).padStart(2, '0') + ':' + String(sec).padStart(2, '0');
    return ms < 0 ? '-' + text : text;
  }
  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll('.countdown[data-due]').forEach(function (el) {
      var due = Date.parse(el.dataset.due), start = Date.parse(el.dataset.start || el.dataset.due);
      var left = due - now, used = (now - start) / Math.max(1, due - start);
      el.textContent = fmt(left);
      el.classList.remove('on_track', 'warning', 'breached');
      el.classList.add(left <= 0 ? 'breached' : used >= 0.8 ? 'warning' : 'on_track');
    });
  }
  tick();
  setInterval(tick, 1000);
})();

// Forms with rows (quote items): add a row, and a running total of quantity x unit price. Without this script the
// form still works with the rows the server drew, and the engine computes the total itself.
(function () {
  function number(input) { var v = parseFloat(input && input.value); return isNaN(v) ? null : v; }
  document.querySelectorAll('fieldset[data-rows]').forEach(function (set) {
    var name = set.dataset.rows, button = set.querySelector('.add-row'), total = set.querySelector('.rows-total');
    function rows() { return set.querySelectorAll('.row'); }
    function sum() {
      if (!total) return;
      var amount = 0;
      rows().forEach(function (row) {
        var price = number(row.querySelector('[name$="-unit_price"]')), qty = number(row.querySelector('[name$="-quantity"]'));
        if (price !== null) amount += price * (qty === null ? 1 : qty);
      });
      total.hidden = false;
      total.querySelector('output').textContent = amount.toLocaleString('zh-CN', {minimumFractionDigits: 2, maximumFractionDigits: 2});
    }
    button.hidden = false;
    button.addEventListener('click', function () {
      var all = rows(), last = all[all.length - 1], index = all.length, copy = last.cloneNode(true);
      copy.classList.remove('has-error');
      copy.querySelectorAll('.error').forEach(function (e) { e.remove(); });
      copy.querySelectorAll('.has-error').forEach(function (e) { e.classList.remove('has-error'); });
      copy.querySelectorAll('.req').forEach(function (e) { e.remove(); });
      copy.querySelectorAll('input, select').forEach(function (input) {
        input.name = input.name.replace(new RegExp('^' + name + '-\\d+-'), name + '-' + index + '-');
        input.id = 'f-' + input.name;
        if (input.type === 'checkbox') input.checked = false; else input.value = '';
      });
      last.after(copy);
      copy.querySelector('input, select').focus();
    });
    set.addEventListener('input', sum);
    sum();
  });
})();

// Attachments upload in place: a task form beside the upload keeps what was typed into it. Without this script the
// upload form posts and comes back to the page as before.
(function () {
  document.querySelectorAll('form[data-attach]').forEach(function (form) {
    if (!window.fetch || !window.FormData) return;
    var status = document.createElement('div');
    status.setAttribute('role', 'status');
    status.className = 'attach-status';
    form.appendChild(status);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      status.className = 'attach-status';
      status.textContent = form.dataset.busy || '…';
      fetch(form.action, {method: 'POST', body: new FormData(form), headers: {'Accept': 'application/json'},
                          credentials: 'same-origin'})
        .then(function (response) {
          return response.json().catch(function () { return {}; })
            .then(function (body) { return {ok: response.ok, body: body}; });
        })
        .then(function (result) {
          if (!result.ok) { var failure = new Error(result.body.detail || ''); failure.fromServer = true; throw failure; }
          var a = result.body, list = form.parentNode.querySelector('ul.attachments'), empty = form.parentNode.querySelector('.no-attachments');
          if (!list) { list = document.createElement('ul'); list.className = 'attachments'; form.parentNode.insertBefore(list, empty || form); }
          if (empty) empty.remove();
          var item = document.createElement('li'), link = document.createElement('a'), meta = document.createElement('span');
          link.href = a.href; link.setAttribute('download', ''); link.textContent = a.filename;
          meta.className = 'muted'; meta.textContent = ' ' + (a.size / 1024).toFixed(1) + ' KB · ' + a.uploaded_by + ' · ' + a.shown_at;
          item.appendChild(link); item.appendChild(meta); list.appendChild(item);
          form.querySelector('input[type=file]').value = '';
          status.textContent = form.dataset.done || '';
        })
        .catch(function (error) {
          status.className = 'attach-status error';
          status.textContent = (error.fromServer && error.message) || form.dataset.failed || '';
        })
        .then(function () { button.disabled = false; });
    });
  });
})();

// The header's administration menu closes when you click elsewhere or press Escape.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.nav-more[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.nav-more[open]").forEach((menu) => {
    menu.removeAttribute("open");
    menu.querySelector("summary").focus();
  });
});

// Print buttons (data-print): a listener here, since the Content-Security-Policy allows no inline handlers.
document.querySelectorAll('[data-print]').forEach(function (button) {
  button.addEventListener('click', function () { window.print(); });
});

// A refused form shown at once (422, what was typed kept) sits at the form's address (/admin/users/save): the page
// names its own address, which replaces that one, so a reload shows the page instead of sending the form again.
(function () {
  var el = document.querySelector('[data-replace-url]');
  if (el && window.history && history.replaceState) { history.replaceState(null, '', el.dataset.replaceUrl); }
})();
