/*
 * Aftercare workbench: two versions of a BPMN diagram side by side, with what changed coloured.
 *
 * A page includes (bpmn-js's dist folder is mounted at /vendor/bpmn-js):
 *
 *   <link rel="stylesheet" href="/vendor/bpmn-js/assets/diagram-js.css">
 *   <link rel="stylesheet" href="/vendor/bpmn-js/assets/bpmn-js.css">
 *   <link rel="stylesheet" href="/vendor/bpmn-js/assets/bpmn-font/css/bpmn-embedded.css">
 *   <link rel="stylesheet" href="/static/workbench/workbench.css">
 *   <script src="/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"></script>  (window.BpmnJS = a viewer
 *                                                                                      that pans and zooms)
 *   <script src="/static/workbench/diff.js"></script>                                 (window.AftercareDiff)
 *
 * (On a page that also has the modeler: load bpmn-modeler + modeler.js first, then the navigated viewer +
 * diff.js; each of the two scripts keeps the BpmnJS class that was there when it loaded.)
 *
 *   <div class="wb-diff">
 *     <div id="old"></div>  <div id="new"></div>     (side by side; one above the other under 760 px)
 *   </div>
 *
 *   var d = AftercareDiff.show(oldEl, newEl, xmlOld, xmlNew, {added: [ids], removed: [ids], changed: [ids]}, {
 *     lang: 'zh-CN',             // or 'en'; default: <html lang>
 *     labels: {old: 'v3', new: 'draft'},   // captions above the two diagrams (default "Before" / "After")
 *     legend: element,           // where the legend goes (default: a new element just before the first
 *                                //  container's parent .wb-diff, or before the old container); false: none
 *     sync: true                 // pan / zoom the two diagrams together (default true)
 *   });
 *   d.ready -> Promise (both drawn); d.old / d.new -> the two bpmn-js viewers; d.focus(id); d.destroy()
 *
 * Colours: added = green on the new diagram, removed = red on the old one, changed = amber on both (marker
 * classes wb-diff-added / wb-diff-removed / wb-diff-changed). The legend lists the ids (with names), each a
 * button that shows the element in both diagrams.
 */
(function () {
  'use strict';

  var LOADED_VIEWER = typeof window.BpmnJS === 'function' ? window.BpmnJS : null;

  var DICT = {
    en: {added: 'Added', removed: 'Removed', changed: 'Changed', before: 'Before', after: 'After',
      none: 'No differences in the diagram.'},
    'zh-CN': {added: '新增', removed: '删除', changed: '修改', before: '修改前', after: '修改后',
      none: '图中没有差异。'}
  };

  function ids(list) {
    return (list || []).map(function (x) { return typeof x === 'string' ? x : (x && (x.id || x.element_id)); })
      .filter(Boolean);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // Scroll (keeping the zoom) so the element sits in the middle of the canvas.
  function centerOn(canvas, el) {
    var pts = el.waypoints || [{x: el.x, y: el.y}, {x: el.x + el.width, y: el.y + el.height}];
    var xs = pts.map(function (p) { return p.x; }), ys = pts.map(function (p) { return p.y; });
    var vb = canvas.viewbox();
    var cx = (Math.min.apply(null, xs) + Math.max.apply(null, xs)) / 2, cy = (Math.min.apply(null, ys) + Math.max.apply(null, ys)) / 2;
    canvas.viewbox({x: cx - vb.width / 2, y: cy - vb.height / 2, width: vb.width, height: vb.height});
  }

  function isContainerShape(bo) {
    return !!(bo && bo.$instanceOf && (bo.$instanceOf('bpmn:Lane') || bo.$instanceOf('bpmn:Participant')));
  }

  function show(containerOld, containerNew, xmlOld, xmlNew, changes, options) {
    options = options || {};
    changes = changes || {};
    var lang = /^zh/i.test(options.lang || document.documentElement.lang || '') ? 'zh-CN' : 'en';
    var T = DICT[lang];
    var Viewer = options.Viewer || LOADED_VIEWER || window.BpmnJS;
    if (!Viewer) { throw new Error('AftercareDiff: include /vendor/bpmn-js/bpmn-navigated-viewer.*.js before diff.js'); }
    var sets = {added: ids(changes.added), removed: ids(changes.removed), changed: ids(changes.changed)};
    var labels = options.labels || {};

    [[containerOld, labels.old || T.before, 'old'], [containerNew, labels.new || T.after, 'new']].forEach(function (c) {
      c[0].classList.add('wb-diff-pane', 'wb-diff-' + c[2]);
      c[0].setAttribute('data-caption', c[1]);
    });

    var oldViewer = new Viewer({container: containerOld});
    var newViewer = new Viewer({container: containerNew});

    function mark(viewer, list, cls) {
      var registry = viewer.get('elementRegistry'), canvas = viewer.get('canvas');
      list.forEach(function (id) {
        var e = registry.get(id);
        if (!e || e === canvas.getRootElement()) { return; }
        canvas.addMarker(id, cls);
        if (isContainerShape(e.businessObject)) { canvas.addMarker(id, 'wb-diff-outline'); }
      });
    }

    function nameOf(id) {
      var e = newViewer.get('elementRegistry').get(id) || oldViewer.get('elementRegistry').get(id);
      var name = e && e.businessObject && e.businessObject.name;
      return name ? name + ' (' + id + ')' : id;
    }

    function union(a, b) {
      if (!a || !a.width) { return b; }
      if (!b || !b.width) { return a; }
      var x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
      return {x: x, y: y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y};
    }

    // Pan and zoom together.
    var syncing = false;
    function link(from, to) {
      from.get('eventBus').on('canvas.viewbox.changed', function (e) {
        if (syncing || options.sync === false) { return; }
        syncing = true;
        try {
          var vb = e.viewbox;
          to.get('canvas').viewbox({x: vb.x, y: vb.y, width: vb.width, height: vb.height});
        } finally { syncing = false; }
      });
    }

    var legend = null;
    function buildLegend() {
      if (options.legend === false) { return; }
      legend = options.legend || el('div');
      legend.classList.add('wb-diff-legend');
      legend.textContent = '';
      var total = sets.added.length + sets.removed.length + sets.changed.length;
      if (!total) { legend.appendChild(el('span', 'wb-hint', T.none)); }
      ['added', 'removed', 'changed'].forEach(function (kind) {
        var group = el('div', 'wb-diff-group');
        var key = el('span', 'wb-diff-key');
        key.appendChild(el('i', 'wb-swatch wb-swatch-' + kind));
        key.appendChild(document.createTextNode(T[kind] + ' ' + sets[kind].length));
        group.appendChild(key);
        sets[kind].forEach(function (id) {
          var chip = el('button', 'wb-chip wb-chip-' + kind, nameOf(id));
          chip.type = 'button';
          chip.title = id;
          chip.addEventListener('click', function () { api.focus(id); });
          group.appendChild(chip);
        });
        legend.appendChild(group);
      });
      if (!options.legend) {
        var host = containerOld.parentNode;
        if (host && host.classList.contains('wb-diff') && host.parentNode) { host.parentNode.insertBefore(legend, host); } else if (host) {
          host.insertBefore(legend, containerOld);
        }
      }
    }

    var ready = Promise.all([oldViewer.importXML(xmlOld), newViewer.importXML(xmlNew)]).then(function (results) {
      mark(oldViewer, sets.removed, 'wb-diff-removed');
      mark(oldViewer, sets.changed, 'wb-diff-changed');
      mark(newViewer, sets.added, 'wb-diff-added');
      mark(newViewer, sets.changed, 'wb-diff-changed');
      var oc = oldViewer.get('canvas'), nc = newViewer.get('canvas');
      oc.zoom('fit-viewport');
      nc.zoom('fit-viewport');
      var box = union(oc.viewbox().inner, nc.viewbox().inner);
      if (box) {
        var pad = 20;
        nc.viewbox({x: box.x - pad, y: box.y - pad, width: box.width + 2 * pad, height: box.height + 2 * pad});
        oc.viewbox(nc.viewbox());
      }
      link(oldViewer, newViewer);
      link(newViewer, oldViewer);
      // A big diagram fitted whole is too small to read: start at the first change.
      var first = sets.changed.concat(sets.added, sets.removed)[0];
      if (nc.zoom() < 0.45 && first) { api.focus(first, 0.7); }
      buildLegend();
      containerOld.dataset.ready = containerNew.dataset.ready = 'true';
      return results;
    });
    ready.catch(function (err) {
      var box = el('div', 'wb-import-error', String((err && err.message) || err));
      box.setAttribute('role', 'alert');
      containerNew.insertBefore(box, containerNew.firstChild);
    });

    var api = {
      old: oldViewer,
      'new': newViewer,
      ready: ready,
      focus: function (id, zoom) {
        var viewers = [newViewer, oldViewer], target = null;
        viewers.forEach(function (v) { target = target || v.get('elementRegistry').get(id); });
        if (!target) { return false; }
        var canvas = (newViewer.get('elementRegistry').get(id) ? newViewer : oldViewer).get('canvas');
        if (zoom) { canvas.zoom(zoom); }
        centerOn(canvas, target);
        if (options.sync === false) {
          viewers.forEach(function (v) {
            var e = v.get('elementRegistry').get(id);
            if (e) { centerOn(v.get('canvas'), e); }
          });
        }
        [containerOld, containerNew].forEach(function (c) {
          var g = c.querySelector('[data-element-id="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]');
          if (g) { g.classList.remove('wb-diff-flash'); void g.getBoundingClientRect(); g.classList.add('wb-diff-flash'); }
        });
        return true;
      },
      destroy: function () {
        oldViewer.destroy();
        newViewer.destroy();
        if (legend && !options.legend && legend.parentNode) { legend.parentNode.removeChild(legend); }
      }
    };
    return api;
  }

  window.AftercareDiff = {show: show};
})();
