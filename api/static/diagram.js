// Draws the ticket's BPMN with bpmn-js and marks completed steps, the current task and fired timers.
(function () {
  var el = document.getElementById('diagram');
  if (!el || !window.BpmnJS) { return; }
  fetch(el.dataset.src, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (d) {
    var viewer = new window.BpmnJS({container: el});
    return viewer.importXML(d.xml).then(function () {
      var canvas = viewer.get('canvas'), registry = viewer.get('elementRegistry');
      canvas.zoom('fit-viewport');
      [['done', d.done], ['current', d.current], ['fired', d.fired]].forEach(function (pair) {
        pair[1].forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, 'mark-' + pair[0]); } });
      });
      el.dataset.ready = 'true';
    });
  }).catch(function (err) { el.textContent = String(err); });
})();
