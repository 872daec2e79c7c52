// Draws the ticket's BPMN with bpmn-js and marks completed steps, the current task and fired timers; below it,
// the same for each called process the case has entered (complaint, change request, price negotiation ...).
(function () {
  var el = document.getElementById('diagram');
  if (!el || !window.BpmnJS) { return; }

  function draw(container, d) {
    var viewer = new window.BpmnJS({container: container});
    return viewer.importXML(d.xml).then(function () {
      var canvas = viewer.get('canvas'), registry = viewer.get('elementRegistry');
      canvas.zoom('fit-viewport');
      [['done', d.done], ['current', d.current], ['fired', d.fired]].forEach(function (pair) {
        pair[1].forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, 'mark-' + pair[0]); } });
      });
      // A big diagram fitted whole is too small to read: show the part where the case is (drag to pan,
      // scroll to zoom).
      // Where it stands: its current step, else (ended, or waiting in a called process) the step done last.
      var focus = (d.current || []).concat(d.last ? [d.last] : [], (d.done || []).slice().reverse())
        .map(function (id) { return registry.get(id); }).filter(Boolean)[0];
      if (focus && canvas.zoom() < 0.55) {
        canvas.zoom(0.75);
        canvas.scrollToElement(focus, {top: 120, bottom: 120, left: 240, right: 240});
      }
      container.dataset.ready = 'true';
    }).catch(function (err) { container.textContent = String(err); });
  }

  // Names come from the diagrams (bilingual, like task titles): text nodes only, never HTML.
  function heading(label, d) {
    var h = document.createElement('h3'), tag = document.createElement('span'), note;
    h.className = 'diagram-title';
    tag.className = 'muted';
    tag.textContent = label + ' · ';
    h.appendChild(tag);
    h.appendChild(document.createTextNode(d.name));
    if (d.runs > 1) {
      note = document.createElement('small');
      note.className = 'muted';
      note.textContent = ' (' + el.dataset.runs.replace('{n}', d.runs) + ')';
      h.appendChild(note);
    }
    return h;
  }

  fetch(el.dataset.src, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (d) {
    var called = d.called || [], list = document.getElementById('called-diagrams');
    if (called.length) { el.parentNode.insertBefore(heading(el.dataset.main, d), el); }
    var drawn = called.map(function (c) {
      var section = document.createElement('section'), box = document.createElement('div');
      section.className = 'called-diagram';
      section.dataset.process = c.process_id;
      box.className = 'bpmn-diagram';
      section.appendChild(heading(el.dataset.called, c));
      section.appendChild(box);
      list.appendChild(section);
      return draw(box, c);
    });
    return Promise.all([draw(el, d)].concat(drawn));
  }).catch(function (err) { el.textContent = String(err); });
})();
