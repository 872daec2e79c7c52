/* The intake form: the chosen customer's known contacts are offered for the contact's name, and picking one fills
   in the e-mail and phone (only fields left empty or filled by this script: what the desk typed stays). Without
   script, or for a role that may not read contacts, the form works as before. */
(function () {
  'use strict';
  var select = document.getElementById('customer'), name = document.getElementById('contact_name');
  var list = document.getElementById('known-contacts');
  if (!select || !name || !list || !window.fetch) return;
  var fields = {email: document.getElementById('contact_email'), phone: document.getElementById('contact_phone')};
  var known = {}, filled = {};

  function load() {
    var option = select.options[select.selectedIndex];
    ['email', 'phone'].forEach(function (key) {  // what this script filled was the other customer's contact's
      if (fields[key] && filled[key] && fields[key].value === filled[key]) fields[key].value = '';
      delete filled[key];
    });
    known = {};
    list.innerHTML = '';
    if (!option || !option.dataset.id) return;
    fetch('/intake/contacts?customer_id=' + encodeURIComponent(option.dataset.id),
          {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : []; })
      .catch(function () { return []; })
      .then(function (contacts) {
        if (select.options[select.selectedIndex] !== option) return;  // the desk chose another customer meanwhile
        contacts.forEach(function (c) {
          known[c.name] = c;
          var item = document.createElement('option');
          item.value = c.name;
          item.label = c.email;
          list.appendChild(item);
        });
        fill();
      });
  }

  function fill() {
    var contact = known[name.value.trim()];
    if (!contact) return;
    ['email', 'phone'].forEach(function (key) {
      var field = fields[key], value = contact[key];
      if (field && value && (!field.value || field.value === filled[key])) {
        field.value = value;
        filled[key] = value;
      }
    });
  }

  select.addEventListener('change', load);
  name.addEventListener('input', fill);
  name.addEventListener('change', fill);
  load();
})();
