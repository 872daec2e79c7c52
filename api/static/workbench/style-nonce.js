/*
 * Loaded just before /vendor/dmn-js/dmn-modeler.production.min.js. The decision table's expression editor
 * (CodeMirror, inside dmn-js) adds its look as <style> elements when a cell is first edited; this site's
 * Content-Security-Policy takes a style element only with the page's nonce, so the browser refused them and logged a
 * violation on every edit. On the two decision-table pages, each style element a script creates gets the nonce
 * (read from this script tag's data-nonce), as CodeMirror would set it itself if dmn-js passed it on.
 */
(function () {
  var nonce = document.currentScript && document.currentScript.getAttribute('data-nonce');
  if (!nonce) return;
  var create = Document.prototype.createElement;
  Document.prototype.createElement = function (name) {
    var element = create.apply(this, arguments);
    if (String(name).toLowerCase() === 'style') element.setAttribute('nonce', nonce);
    return element;
  };
})();
