/*
 * Loaded just before /vendor/dmn-js/dmn-modeler.production.min.js. dmn-js 17 builds its "production" bundle with
 * Inferno's development build inside (bpmn-io/dmn-js#965, open upstream; no dmn-js release or setting avoids it), so
 * loading it logs "Inferno is in development mode" and a console.error about a minified development build. These two
 * start-up notices, and only they, are dropped while the bundle loads; the console is whole again once the page has
 * loaded, so any real warning of the editor still shows.
 */
(function () {
  var error = console.error, info = console.info;
  function quiet(original) {
    return function (message) {
      if (typeof message === 'string' && message.indexOf('Inferno') !== -1 && message.indexOf('development') !== -1) {
        return;
      }
      return original.apply(console, arguments);
    };
  }
  console.error = quiet(error);
  console.info = quiet(info);
  document.addEventListener('DOMContentLoaded', function () { console.error = error; console.info = info; });
})();
