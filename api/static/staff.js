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
