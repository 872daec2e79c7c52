/*
 * Aftercare workbench: a DMN decision table editor (dmn-js's Modeler opened straight on the table view).
 *
 * A page includes (dmn-js's dist folder is mounted at /vendor/dmn-js):
 *
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/diagram-js.css">
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/dmn-js-shared.css">
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/dmn-js-drd.css">
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/dmn-js-decision-table.css">
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/dmn-js-decision-table-controls.css">
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/dmn-js-literal-expression.css">
 *   <link rel="stylesheet" href="/vendor/dmn-js/assets/dmn-font/css/dmn-embedded.css">
 *   <link rel="stylesheet" href="/static/workbench/workbench.css">
 *   <script src="/vendor/dmn-js/dmn-modeler.production.min.js"></script>   (defines window.DmnJS)
 *   <script src="/static/workbench/dmn.js"></script>                       (defines window.AftercareDmn)
 *
 *   var d = AftercareDmn.open(document.getElementById('table'), xmlText, {decisionId: 'sla'});
 *   d.ready       -> Promise resolved once the table is shown; rejected on an import error
 *   d.saveXML()   -> Promise<string> (formatted DMN XML)
 *   d.onChange(cb)-> cb() after every edit / undo / redo in the table; returns a function that unsubscribes
 *   d.modeler     -> the dmn-js instance; d.destroy()
 *
 * options.decisionId picks the decision when the file holds several (default: the first with a decision table).
 * The container gets the class wb-dmn (scrolls sideways on a phone).
 */
(function () {
  'use strict';

  function open(container, xml, options) {
    options = options || {};
    var DmnJS = options.DmnJS || window.DmnJS;
    if (!DmnJS) { throw new Error('AftercareDmn: include /vendor/dmn-js/dmn-modeler.*.js before dmn.js'); }
    container.classList.add('wb-dmn');
    var modeler = new DmnJS({container: container});
    var listeners = [];
    var hooked = null;

    function hook() {
      var viewer = modeler.getActiveViewer();
      if (!viewer || viewer === hooked) { return; }
      hooked = viewer;
      viewer.get('eventBus').on('elements.changed', function () {
        listeners.forEach(function (cb) { cb(api); });
      });
    }
    modeler.on('views.changed', hook);

    var ready = modeler.importXML(xml, {open: false}).then(function (result) {
      var views = modeler.getViews();
      var tables = views.filter(function (v) { return v.type === 'decisionTable'; });
      var view = tables.filter(function (v) { return v.element && v.element.id === options.decisionId; })[0] ||
        tables[0] || views[0];
      if (!view) { throw new Error('no decision table in this file'); }
      return modeler.open(view).then(function () {
        hook();
        container.dataset.ready = 'true';
        return result;
      });
    });
    ready.catch(function (err) {
      container.dataset.ready = 'error';
      var box = document.createElement('div');
      box.className = 'wb-import-error';
      box.setAttribute('role', 'alert');
      box.textContent = String((err && err.message) || err);
      container.insertBefore(box, container.firstChild);
    });

    var api = {
      modeler: modeler,
      ready: ready,
      saveXML: function () {
        // A cell being typed in is already in the model (dmn-js updates it on input), so nothing to flush.
        return ready.then(function () { return modeler.saveXML({format: true}); }).then(function (r) { return r.xml; });
      },
      onChange: function (cb) {
        listeners.push(cb);
        return function () { listeners = listeners.filter(function (l) { return l !== cb; }); };
      },
      destroy: function () { modeler.destroy(); }
    };
    return api;
  }

  window.AftercareDmn = {open: open};
})();
