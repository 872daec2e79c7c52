// Live SLA countdowns: the page works without this; with it, each deadline counts down every second.
(function () {
  var serverNow = window.AFTERCARE_NOW ? Date.parse(window.AFTERCARE_NOW) : Date.now();
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
