// A file input with data-max-files refuses a choice of more files than its form takes, in the page's language
// (data-too-many), before anything is sent: the message typed so far stays in its box. The server refuses too.
(function () {
  document.querySelectorAll('input[type=file][data-max-files]').forEach(function (input) {
    var max = parseInt(input.dataset.maxFiles, 10);
    input.addEventListener('change', function () {
      var tooMany = input.files && input.files.length > max;
      input.setCustomValidity(tooMany ? input.dataset.tooMany : '');
      if (tooMany) input.reportValidity();
    });
  });
})();
