// The ticket page's conversation: the filter (all / messages / notes / procedure) without a reload, and the reply
// box taking the look of what it will send. Without this script the filter links reload the page filtered and the
// box is styled by CSS alone.
(function () {
  var nav = document.querySelector('[data-stream-filter]');
  if (nav) {
    nav.addEventListener('click', function (event) {
      var link = event.target.closest('a[data-show]');
      if (!link) return;
      event.preventDefault();
      var show = link.dataset.show, shown = 0;
      document.querySelectorAll('ol.timeline > li[data-stream]').forEach(function (item) {
        var hide = show !== 'all' && item.dataset.stream !== show;
        item.hidden = hide;
        if (!hide) shown += 1;
      });
      nav.querySelectorAll('a[data-show]').forEach(function (a) {
        if (a === link) a.setAttribute('aria-current', 'true'); else a.removeAttribute('aria-current');
      });
      var empty = document.querySelector('[data-stream-empty]');
      if (empty) empty.hidden = shown > 0;
      if (window.history && history.replaceState) {
        var url = new URL(window.location.href);
        url.searchParams.set('show', show);
        url.searchParams.delete('sent');
        history.replaceState(null, '', url.pathname + url.search + '#conversation');
      }
    });
  }
  var box = document.querySelector('[data-reply-box]');
  if (box) {
    var checked = box.querySelector('input[name="kind"]:checked');
    box.classList.toggle('is-note', !!checked && checked.value === 'note');
    box.addEventListener('change', function (event) {
      if (event.target.name === 'kind') box.classList.toggle('is-note', event.target.value === 'note');
    });
  }
  // a printed ticket shows every entry: the folded runs of routine entries open for printing
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('li.ev-folded > details').forEach(function (d) { d.open = true; });
  });
})();
