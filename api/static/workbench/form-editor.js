/*
 * Aftercare workbench: the JSON editor of a form (a JSON Schema with Aftercare's x- keywords) with a live preview.
 *
 * A page includes (no vendor script needed):
 *
 *   <link rel="stylesheet" href="/static/workbench/workbench.css">
 *   <script src="/static/workbench/form-editor.js"></script>        (defines window.AftercareFormEditor)
 *
 *   <div class="wb-form-layout">
 *     <textarea id="schema" name="schema">{{ text }}</textarea>     (or an empty <div>: a textarea is made in it)
 *     <div id="preview"></div>
 *   </div>
 *
 *   var f = AftercareFormEditor.open(document.getElementById('schema'), document.getElementById('preview'), null, {
 *     previewUrl: '/workbench/forms/triage.json/preview',   // POSTed to, debounced, whenever the text is valid JSON
 *     csrf: '{{ csrf }}',          // sent as the form field "csrf" and the header X-CSRF-Token
 *     field: 'schema',             // name of the form field holding the text (default "schema"); also the
 *                                  // textarea's name when one is made
 *     extra: {name: 'triage.json'},// more form fields sent with every preview request
 *     lang: 'zh-CN',               // or 'en'; default: <html lang>
 *     delay: 400                   // debounce in ms
 *   });
 *   f.getValue() / f.setValue(text)
 *   f.error         -> null, or {line, column, message} of the JSON syntax error shown
 *   f.isValid()     -> true when the text parses as JSON
 *   f.refresh()     -> Promise: POST the text now and show the answer
 *   f.onChange(cb)  -> cb(text, error) on every edit; returns a function that unsubscribes
 *   f.destroy()
 *
 * The preview request is `POST previewUrl` with an application/x-www-form-urlencoded body
 * `csrf=..&<extra fields>&schema=<text>`.
 * The server answers 200 with the form's HTML (rendered with the app's own form partial; it is put into the
 * preview container as is) or 422 with JSON [{message, message_zh?}] (shown as a list; the last good preview
 * stays, dimmed). JSON syntax errors are found here, before any request, and shown with their line and column.
 */
(function () {
  'use strict';

  var DICT = {
    en: {
      valid: 'Valid JSON', format: 'Format', line: 'Line', column: 'column', previewFailed: 'Preview failed',
      previewing: 'Updating preview…', offline: 'The preview could not be reached',
      end: 'Unexpected end of the text', unexpected: 'Unexpected character', key: 'Expected a property name in double quotes',
      colon: 'Expected \':\' after the property name', trailing: 'A comma may not come before this } or ]',
      commaObj: 'Expected \',\' or \'}\' here (is a comma missing after the value before?)',
      commaArr: 'Expected \',\' or \']\' here (is a comma missing after the value before?)',
      control: 'A line break or control character inside a string (write \\n)', escape: 'Invalid escape in a string',
      unterminated: 'Unterminated string', number: 'Invalid number', extra: 'Unexpected text after the end'
    },
    'zh-CN': {
      valid: 'JSON 格式正确', format: '格式化', line: '第', column: '列', previewFailed: '预览失败',
      previewing: '正在更新预览…', offline: '无法获取预览',
      end: '文本意外结束', unexpected: '意外的字符', key: '此处应为带双引号的属性名',
      colon: '属性名后应为 \':\'', trailing: '此 } 或 ] 前不能有逗号',
      commaObj: '此处应为 \',\' 或 \'}\'（前一个值后面是否缺少逗号？）',
      commaArr: '此处应为 \',\' 或 \']\'（前一个值后面是否缺少逗号？）',
      control: '字符串中有换行或控制字符（请写 \\n）', escape: '字符串中的转义无效',
      unterminated: '字符串没有结束引号', number: '无效的数字', extra: '结尾之后还有多余内容'
    }
  };

  // A strict JSON scanner that says where the text first goes wrong (browsers word and place errors differently).
  // The place is the character where reading stops, as the server's check (Python's json) reports it: a missing
  // comma is reported at the token after the gap, a trailing comma at the } or ] it precedes.
  function locateError(text) {
    var i = 0, n = text.length;
    function Fail(key, pos) { this.key = key; this.pos = pos === undefined ? i : pos; }
    function fail(key, pos) { throw new Fail(i >= n && key !== 'extra' && pos === undefined ? 'end' : key, pos); }
    function ws() { while (i < n && ' \t\n\r'.indexOf(text[i]) >= 0) { i++; } }
    function lit(word) { if (text.substr(i, word.length) === word) { i += word.length; return true; } return false; }
    function string() {
      i++;
      while (i < n) {
        var c = text[i];
        if (c === '"') { i++; return; }
        if (c === '\\') {
          var e = text[i + 1];
          if (e === 'u') {
            if (!/^[0-9a-fA-F]{4}$/.test(text.substr(i + 2, 4))) { fail('escape'); }
            i += 6;
          } else if (e !== undefined && '"\\/bfnrt'.indexOf(e) >= 0) { i += 2; } else { fail('escape'); }
          continue;
        }
        if (c < ' ') { fail('control'); }
        i++;
      }
      fail('unterminated');
    }
    function number() {
      var re = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/g;
      re.lastIndex = i;
      var m = re.exec(text);
      if (!m || m.index !== i || !m[0] || m[0] === '-') { fail('number'); }
      i += m[0].length;
      if (i < n && /[0-9.eE+\-]/.test(text[i])) { fail('number'); }
    }
    function value() {
      ws();
      if (i >= n) { fail('end'); }
      var c = text[i];
      if (c === '{') { return object(); }
      if (c === '[') { return array(); }
      if (c === '"') { return string(); }
      if (c === '-' || (c >= '0' && c <= '9')) { return number(); }
      if (lit('true') || lit('false') || lit('null')) { return; }
      fail('unexpected');
    }
    function object() {
      i++; ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') { fail('key'); }
        string(); ws();
        if (text[i] !== ':') { fail('colon'); }
        i++;
        value();
        ws();
        if (text[i] === ',') { i++; ws(); if (text[i] === '}') { fail('trailing'); } continue; }
        if (text[i] === '}') { i++; return; }
        fail(i >= n ? 'end' : 'commaObj');
      }
    }
    function array() {
      i++; ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') { i++; ws(); if (text[i] === ']') { fail('trailing'); } continue; }
        if (text[i] === ']') { i++; return; }
        fail(i >= n ? 'end' : 'commaArr');
      }
    }
    try {
      value(); ws();
      if (i < n) { fail('extra'); }
      return null;
    } catch (e) {
      if (!(e instanceof Fail)) { throw e; }
      return e;
    }
  }

  function lineColumn(text, pos) {
    var before = text.slice(0, pos), lines = before.split('\n');
    return {line: lines.length, column: lines[lines.length - 1].length + 1};
  }

  // {line, column, message} of the text's JSON syntax error, or null.
  function check(text, lang) {
    var T = DICT[lang] || DICT.en;
    try { JSON.parse(text); return null; } catch (native) {
      var found = locateError(text);
      if (!found) { return {line: 1, column: 1, message: String(native.message)}; }
      var lc = lineColumn(text, Math.min(found.pos, text.length));
      var message = T[found.key] || found.key;
      if (found.key === 'unexpected' || found.key === 'extra') {
        var ch = text[found.pos];
        if (ch) { message += ' ' + JSON.stringify(ch); }
      }
      return {line: lc.line, column: lc.column, pos: found.pos, message: message};
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function open(container, previewContainer, text, options) {
    options = options || {};
    var lang = /^zh/i.test(options.lang || document.documentElement.lang || '') ? 'zh-CN' : 'en';
    var T = DICT[lang];
    var field = options.field || 'schema';
    var delay = options.delay === undefined ? 400 : options.delay;

    var textarea, wrap = el('div', 'wb-json');
    if (container.tagName === 'TEXTAREA') {
      textarea = container;
      container.parentNode.insertBefore(wrap, container);
    } else {
      textarea = el('textarea');
      textarea.name = field;
      container.appendChild(wrap);
    }
    if (text !== null && text !== undefined) { textarea.value = text; }
    textarea.classList.add('wb-code');
    textarea.setAttribute('wrap', 'off');
    textarea.setAttribute('spellcheck', 'false');
    textarea.setAttribute('autocapitalize', 'off');
    textarea.setAttribute('autocomplete', 'off');
    var gutter = el('div', 'wb-gutter');
    gutter.setAttribute('aria-hidden', 'true');
    var body = el('div', 'wb-json-body');
    body.appendChild(gutter);
    body.appendChild(textarea);
    var bar = el('div', 'wb-json-bar');
    var status = el('div', 'wb-json-status');
    status.setAttribute('role', 'status');
    status.setAttribute('aria-live', 'polite');
    var formatButton = el('button', 'small', T.format);
    formatButton.type = 'button';
    bar.appendChild(status);
    bar.appendChild(formatButton);
    wrap.appendChild(body);
    wrap.appendChild(bar);

    var previewBox = null, previewErrors = null;
    if (previewContainer) {
      previewContainer.classList.add('wb-preview');
      previewErrors = el('div', 'wb-preview-errors');
      previewErrors.setAttribute('role', 'alert');
      previewBox = el('div', 'wb-preview-body');
      previewContainer.textContent = '';
      previewContainer.appendChild(previewErrors);
      previewContainer.appendChild(previewBox);
      // The preview is a picture of the form: it must not post anything.
      previewContainer.addEventListener('submit', function (e) { e.preventDefault(); }, true);
    }

    var listeners = [], timer = null, seq = 0, inflight = null, lineCount = 0;

    function renderGutter(errorLine) {
      var count = textarea.value.split('\n').length;
      if (count !== lineCount) {
        var frag = document.createDocumentFragment();
        for (var k = 1; k <= count; k++) { frag.appendChild(el('div', '', String(k))); }
        gutter.textContent = '';
        gutter.appendChild(frag);
        lineCount = count;
      }
      var old = gutter.querySelector('.wb-error-line');
      if (old) { old.classList.remove('wb-error-line'); }
      if (errorLine && gutter.children[errorLine - 1]) { gutter.children[errorLine - 1].classList.add('wb-error-line'); }
      gutter.scrollTop = textarea.scrollTop;
    }

    function validate() {
      var err = check(textarea.value, lang);
      api.error = err;
      status.textContent = '';
      status.className = 'wb-json-status ' + (err ? 'wb-bad' : 'wb-ok');
      if (err) {
        var jump = el('button', 'link wb-jump', T.line + ' ' + err.line + (lang === 'zh-CN' ? ' 行，第 ' : ', ' + T.column + ' ') +
          err.column + (lang === 'zh-CN' ? ' 列' : ''));
        jump.type = 'button';
        jump.addEventListener('click', function () { goTo(err); });
        status.appendChild(jump);
        status.appendChild(document.createTextNode(': ' + err.message));
        textarea.setAttribute('aria-invalid', 'true');
      } else {
        status.textContent = '✓ ' + T.valid;
        textarea.removeAttribute('aria-invalid');
      }
      formatButton.disabled = !!err;
      renderGutter(err && err.line);
      return err;
    }

    function goTo(err) {
      var lines = textarea.value.split('\n'), pos = 0;
      for (var k = 0; k < err.line - 1; k++) { pos += lines[k].length + 1; }
      pos += err.column - 1;
      textarea.focus();
      textarea.setSelectionRange(pos, Math.min(pos + 1, textarea.value.length));
      var lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
      textarea.scrollTop = Math.max(0, (err.line - 3) * lineHeight);
    }

    function showPreviewErrors(list) {
      if (!previewErrors) { return; }
      previewErrors.textContent = '';
      previewBox.classList.toggle('wb-stale', !!(list && list.length));
      if (!list || !list.length) { return; }
      var ul = el('ul');
      list.forEach(function (p) {
        var msg = typeof p === 'string' ? p : ((lang === 'zh-CN' && p.message_zh) ? p.message_zh : (p.message || p.message_zh || ''));
        ul.appendChild(el('li', '', msg));
      });
      previewErrors.appendChild(el('strong', '', T.previewFailed));
      previewErrors.appendChild(ul);
    }

    function refresh() {
      if (!previewContainer || !options.previewUrl || api.error) { return Promise.resolve(); }
      var mine = ++seq;
      if (inflight && inflight.abort) { inflight.abort(); }
      inflight = window.AbortController ? new AbortController() : null;
      var params = new URLSearchParams();
      if (options.csrf) { params.set('csrf', options.csrf); }
      Object.keys(options.extra || {}).forEach(function (k) { params.set(k, options.extra[k]); });
      params.set(field, textarea.value);
      var headers = Object.assign({'Accept': 'text/html, application/json'}, options.headers || {});
      if (options.csrf) { headers['X-CSRF-Token'] = options.csrf; }
      previewContainer.classList.add('wb-loading');
      previewContainer.setAttribute('aria-busy', 'true');
      return fetch(options.previewUrl, {
        method: 'POST', body: params, headers: headers, credentials: 'same-origin',
        signal: inflight ? inflight.signal : undefined
      }).then(function (r) {
        return r.text().then(function (body) { return {status: r.status, ok: r.ok, body: body}; });
      }).then(function (res) {
        if (mine !== seq) { return; }
        if (res.ok) {
          previewBox.innerHTML = res.body;
          showPreviewErrors(null);
        } else {
          var list;
          try { list = JSON.parse(res.body); } catch (e) { list = null; }
          if (list && !Array.isArray(list)) { list = Array.isArray(list.detail) ? list.detail : [list.detail || list]; }
          showPreviewErrors(list && list.length ? list : [T.previewFailed + ' (HTTP ' + res.status + ')']);
        }
      }, function (err) {
        if (mine !== seq || (err && err.name === 'AbortError')) { return; }
        showPreviewErrors([T.offline + ': ' + String((err && err.message) || err)]);
      }).then(function () {
        if (mine === seq) { previewContainer.classList.remove('wb-loading'); previewContainer.removeAttribute('aria-busy'); }
      });
    }

    function changed() {
      var err = validate();
      listeners.forEach(function (cb) { cb(textarea.value, err); });
      clearTimeout(timer);
      if (!err) { timer = setTimeout(refresh, delay); }
    }

    function onInput() { changed(); }
    function onScroll() { gutter.scrollTop = textarea.scrollTop; }
    textarea.addEventListener('input', onInput);
    textarea.addEventListener('scroll', onScroll);
    formatButton.addEventListener('click', function () {
      if (api.error) { return; }
      textarea.value = JSON.stringify(JSON.parse(textarea.value), null, 2) + '\n';
      changed();
    });

    var api = {
      error: null,
      getValue: function () { return textarea.value; },
      setValue: function (v) { textarea.value = v; changed(); },
      isValid: function () { return !api.error; },
      refresh: refresh,
      onChange: function (cb) {
        listeners.push(cb);
        return function () { listeners = listeners.filter(function (l) { return l !== cb; }); };
      },
      destroy: function () {
        clearTimeout(timer);
        textarea.removeEventListener('input', onInput);
        textarea.removeEventListener('scroll', onScroll);
      }
    };
    if (!validate()) { refresh(); }
    return api;
  }

  window.AftercareFormEditor = {open: open, check: check};
})();
