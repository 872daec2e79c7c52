/* The workbench pages: wires the editors of api/static/workbench/ to the page's buttons and the server.
   Every post carries the session's CSRF token; answers are JSON, problems as [{file, element_id, line, message}].
   An editor page exposes its editor as window.aftercareEditor (the API of AftercareModeler / AftercareDmn, or
   {saveXML} for a form), for scripts and the browser tests. */
(function () {
  'use strict';
  var zh = (document.documentElement.lang || 'zh-CN').indexOf('zh') === 0;
  var T = zh ? {
    checking: '检查中…', ok: '没有问题，可以部署。', problems: '{n} 个问题', problem: '{n} 个问题', deploying: '部署中…',
    deployed: '已部署：', unchanged: '没有变化，未生成新版本。', failed: '请求失败：', line: '行',
    replaying: '回放中…', movable: '可迁移', notMovable: '不可迁移', moved: '已迁移',
    dry: '试运行：{m} / {n} 个工单可迁移。', done: '已迁移 {m} 个工单。', progress: '迁移中 {i} / {n}',
    confirmMigrate: '将 {m} 个运行中的工单从 v{from} 迁移到 v{to}？它们此后按 v{to} 运行，待办任务与定时器保留。',
    noLayout: '此流程图没有布局信息（BPMN DI），浏览器无法绘制；它可以运行。请在建模工具中打开并保存一次，再上传。',
    summary: '近 {days} 天共 {n} 张工单（{s} 张未分诊，不计）：实际超时 {a} 张，按此表将超时 {c} 张。',
    units: {D: ' 天', H: ' 小时', M: ' 分钟'}
  } : {
    checking: 'Checking…', ok: 'No problems: ready to deploy.', problems: '{n} problems', problem: '{n} problem',
    deploying: 'Deploying…',
    deployed: 'Deployed: ', unchanged: 'Nothing changed; no new version.', failed: 'The request failed: ', line: 'line',
    replaying: 'Replaying…', movable: 'can move', notMovable: 'cannot move', moved: 'moved',
    dry: 'Dry run: {m} of {n} cases can move.', done: '{m} cases moved.', progress: 'Migrating {i} / {n}',
    confirmMigrate: 'Move {m} running cases from v{from} to v{to}? They go on under v{to}; their open tasks and ' +
      'timers are kept.',
    noLayout: 'This diagram has no layout (BPMN DI), so the browser cannot draw it; it still runs. Open it in a ' +
      'modeler and save it once, then upload it again.',
    summary: '{n} tickets in the last {days} days ({s} not triaged, left out): {a} breached, {c} would have under this table.',
    units: {D: ' d', H: ' h', M: ' min'}
  };

  // An SLA table's ISO 8601 duration in words (PT4H -> 4 小时 / 4 h, P3D -> 3 天 / 3 d); anything else as it is.
  function duration(value) {
    var m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(value || '');
    if (!m || !(m[1] || m[2] || m[3])) return value || '—';
    return [[m[1], 'D'], [m[2], 'H'], [m[3], 'M']].filter(function (p) { return p[0]; })
      .map(function (p) { return p[0] + T.units[p[1]]; }).join(' ');
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_m, k) { return values[k]; });
  }

  function post(url, body) {
    return fetch(url, {method: 'POST', body: body, credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) {
        return r.json().catch(function () { return {detail: r.statusText}; })
          .then(function (data) { return {status: r.status, data: data, base: r.headers.get('X-Aftercare-Base')}; });
      });
  }

  function text(id) {
    var el = document.getElementById(id);
    return el ? el.value : '';
  }

  // Why a diagram cannot be drawn, in the reader's words (bpmn-js says "no diagram to display" when a file has no
  // layout: BPMN DI, which some tools and hand-written files leave out; such a file runs but cannot be drawn).
  function importMessage(e) {
    var raw = String(e && e.message || e);
    if (/no diagram to display/i.test(raw)) return T.noLayout;
    return T.failed + raw;
  }

  // bpmn-js pans with a mouse only: on a phone, one finger moves the diagram (two fingers are left to the browser).
  function touchPan(box, canvas) {
    var last = null;
    box.style.touchAction = 'pinch-zoom';
    box.addEventListener('touchstart', function (e) {
      last = e.touches.length === 1 ? {x: e.touches[0].clientX, y: e.touches[0].clientY} : null;
    }, {passive: true});
    box.addEventListener('touchmove', function (e) {
      if (!last || e.touches.length !== 1) return;
      var x = e.touches[0].clientX, y = e.touches[0].clientY;
      canvas.scroll({dx: x - last.x, dy: y - last.y});
      last = {x: x, y: y};
      e.preventDefault();
    }, {passive: false});
    box.addEventListener('touchend', function () { last = null; });
  }

  function message(p) {
    if (p && Array.isArray(p.errors) && p.errors.length) {  // a refused request names its fields
      return p.errors.map(function (e) { return e.message; }).join('; ');
    }
    return (zh && p.message_zh) || p.message || p.detail || JSON.stringify(p);
  }

  // -- the editors -------------------------------------------------------------------------------------------------
  function editorPage(root) {
    var kind = root.dataset.kind, name = root.dataset.name, csrf = root.dataset.csrf;
    var choices = JSON.parse(root.dataset.choices || '{}');
    var status = root.querySelector('.wb-status'), list = root.querySelector('.wb-problems');
    var source = text('source'), editor;
    if (kind === 'bpmn') {
      editor = window.AftercareModeler.open(document.getElementById('canvas'), document.getElementById('panel'), source,
        {lang: zh ? 'zh-CN' : 'en', forms: choices.forms || [], processes: choices.processes || [],
         decisions: choices.decisions || [], file: name});
    } else if (kind === 'dmn') {
      editor = window.AftercareDmn.open(document.getElementById('table'), source, {});
    } else {
      var area = document.getElementById('schema');
      area.value = source;
      var form = window.AftercareFormEditor.open(area, document.getElementById('preview'), null,
        {previewUrl: '/workbench/forms/preview', csrf: csrf, lang: zh ? 'zh-CN' : 'en', extra: {name: name}});
      editor = {saveXML: function () { return Promise.resolve(form.getValue()); }, onChange: form.onChange};
    }
    if (editor.ready && kind === 'bpmn') {
      editor.ready.then(function () { touchPan(document.getElementById('canvas'), editor.modeler.get('canvas')); },
        function () { /* shown below */ });
    }
    if (editor.ready) {
      editor.ready.catch(function (e) {
        var shown = root.querySelector('.wb-import-error');
        if (shown) shown.textContent = importMessage(e);
        status.textContent = importMessage(e);
      });
    }
    window.aftercareEditor = editor;  // the page's editor (AftercareModeler / AftercareDmn API), for scripts and tests
    var dirty = false;  // edits not deployed yet: leaving the page asks first
    if (editor.onChange && root.dataset.owner) editor.onChange(function () { dirty = true; });
    window.addEventListener('beforeunload', function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ''; }
    });

    function files(extra) {
      return editor.saveXML().then(function (content) {
        var body = new FormData();
        body.append('csrf', csrf);
        body.append('files', new Blob([content], {type: 'text/plain'}), name);
        Object.keys(extra || {}).forEach(function (k) { body.append(k, extra[k]); });
        return body;
      });
    }

    function show(problems) {
      list.innerHTML = '';
      list.hidden = !problems.length;
      problems.forEach(function (p) {
        var li = document.createElement('li');
        li.textContent = p.file + (p.line ? ' (' + T.line + ' ' + p.line + ')' : '') +
          (p.element_id ? ' · ' + p.element_id : '') + ': ' + message(p);
        if (p.element_id && editor.selectElement && p.file === name) {
          li.className = 'link';
          li.addEventListener('click', function () { editor.selectElement(p.element_id); });
        }
        list.appendChild(li);
      });
      if (editor.showProblems) editor.showProblems(problems);
    }

    function answer(result, okText) {
      var problems = Array.isArray(result.data) && result.status === 422 ? result.data : [];
      show(problems);
      if (result.status >= 400 && !problems.length) status.textContent = T.failed + message(result.data);
      else status.textContent = problems.length ? fill(problems.length === 1 ? T.problem : T.problems,
                                                       {n: problems.length}) : okText(result.data);
      status.className = 'wb-status ' + (result.status >= 400 ? 'bad' : 'ok');
      return result;
    }

    root.addEventListener('click', function (event) {
      var action = event.target.dataset && event.target.dataset.action;
      if (action === 'check') {
        status.textContent = T.checking;
        files().then(function (b) { return post('/workbench/check', b); })
          .then(function (r) { answer(r, function () { return T.ok; }); });
      } else if (action === 'deploy') {
        status.textContent = T.deploying;
        var note = root.querySelector('input[name=note]');
        files({note: note ? note.value : '', base: root.dataset.base || ''})
          .then(function (b) { return post('/workbench/deploy', b); })
          .then(function (r) {
            if (r.status === 201) {
              dirty = false;
              if (r.base) root.dataset.base = r.base;  // the next deploy from here builds on this one
            }
            answer(r, function (created) {
              if (!created.length) return T.unchanged;
              return T.deployed + created.map(function (v) { return v.process_id + ' v' + v.version; }).join(', ');
            });
          });
      } else if (action === 'replay') {
        status.textContent = T.replaying;
        var days = root.querySelector('input[name=days]').value;
        files({days: days}).then(function (b) { return post('/workbench/sla/replay', b); })
          .then(function (r) { answer(r, function (data) { showReplay(data); return ''; }); });
      }
    });
  }

  function showReplay(data) {
    var box = document.getElementById('replay');
    box.hidden = false;
    box.querySelector('.summary').textContent = fill(T.summary, {days: data.days, n: data.tickets, s: data.skipped,
      a: data.breached_actual, c: data.breached_candidate});
    var body = box.querySelector('tbody'), names = JSON.parse(box.dataset.names || '{}');
    var named = function (v) { return v == null ? '—' : (names[v] || v); };
    body.innerHTML = '';
    (data.by_class || []).forEach(function (c) {
      var tr = document.createElement('tr');
      var cells = [named(c.category), c.severity == null ? '—' : c.severity, named(c.tier), c.tickets,
        duration(c.respond_within), duration(c.resolve_within), named(c.sla_calendar), c.breached_actual,
        c.breached_candidate];
      cells.forEach(function (v, i) {
        var td = document.createElement('td');
        td.textContent = v;
        if (i === cells.length - 1 && c.breached_candidate !== c.breached_actual) {
          td.className = c.breached_candidate > c.breached_actual ? 'bad' : 'ok';
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  // -- one procedure: its diagram and the migration panel -----------------------------------------------------------
  function viewer() {
    var box = document.getElementById('diagram');
    if (!box || !window.BpmnJS) return;
    var v = new window.BpmnJS({container: box});
    // The whole diagram, or, when that would be too small to read (a big procedure, a phone), its top left corner
    // (where it starts) at 70 %, as the modeler opens it; the viewer pans and zooms from there.
    v.importXML(text('diagram-xml')).then(function () {
      var canvas = v.get('canvas');
      canvas.zoom('fit-viewport');
      if (canvas.zoom() < 0.45) {
        var vb = canvas.viewbox(), z = 0.7;
        canvas.viewbox({x: vb.inner.x - 20 / z, y: vb.inner.y - 20 / z, width: vb.outer.width / z, height: vb.outer.height / z});
      }
      box.dataset.ready = 'true';
      touchPan(box, canvas);
    }).catch(function (e) { box.textContent = importMessage(e); });
  }

  function migrationPanel(root) {
    var csrf = root.dataset.csrf, url = '/workbench/processes/' + root.dataset.process + '/migrations';
    var table = root.querySelector('table'), body = root.querySelector('tbody');
    var bar = root.querySelector('progress'), note = root.querySelector('.progress-text');
    var go = root.querySelector('[data-action=migrate]'), movable = [];

    function request(extra) {
      var b = new FormData();
      b.append('csrf', csrf);
      b.append('body', JSON.stringify(Object.assign({
        from_version: root.querySelector('[name=from_version]').value,
        to_version: root.querySelector('[name=to_version]').value}, extra)));
      return post(url, b);
    }

    function row(c, state) {
      var tr = body.querySelector('tr[data-ticket="' + c.ticket_id + '"]') || document.createElement('tr');
      tr.dataset.ticket = c.ticket_id;
      tr.innerHTML = '';
      var link = document.createElement('a');
      link.href = '/tickets/' + c.ticket_id;
      link.textContent = c.number || c.ticket_id;
      var cells = [link, state, (zh && c.reason_zh) || c.reason || ''];
      cells.forEach(function (v) {
        var td = document.createElement('td');
        if (typeof v === 'string') td.textContent = v; else td.appendChild(v);
        tr.appendChild(td);
      });
      tr.className = c.moved ? 'ok' : (c.movable ? '' : 'muted');
      body.appendChild(tr);
    }

    // The versions table's running cases, after `moved` cases went from one version to the other.
    function recount(moved) {
      var from = root.querySelector('[name=from_version]').value, to = root.querySelector('[name=to_version]').value;
      [[from, -moved], [to, moved]].forEach(function (change) {
        var cell = document.querySelector('#versions tr[data-version="' + change[0] + '"] td.running');
        if (!cell) return;
        var count = Math.max(0, (parseInt(cell.textContent, 10) || 0) + change[1]);
        cell.textContent = count;
        var option = root.querySelector('[name=from_version] option[value="' + change[0] + '"]');
        if (option) option.textContent = 'v' + change[0] + ' (' + count + ')';
      });
    }

    // A migration moves exactly what the dry run of these two versions listed: changing either starts over.
    root.querySelectorAll('select').forEach(function (select) {
      select.addEventListener('change', function () {
        movable = [];
        go.disabled = true;
        table.hidden = true;
        note.textContent = '';
      });
    });

    root.querySelector('[data-action=dry-run]').addEventListener('click', function () {
      request({dry_run: true}).then(function (r) {
        if (r.status !== 200) { note.textContent = T.failed + message(r.data); return; }
        body.innerHTML = '';
        table.hidden = false;
        r.data.cases.forEach(function (c) { row(c, c.movable ? T.movable : T.notMovable); });
        movable = r.data.cases.filter(function (c) { return c.movable; }).map(function (c) { return c.ticket_id; });
        note.textContent = fill(T.dry, {m: movable.length, n: r.data.cases.length});
        go.disabled = !movable.length;
      });
    });

    go.addEventListener('click', function () {
      // live cases change version: the owner says so once more, as for a rollback
      if (!window.confirm(fill(T.confirmMigrate, {m: movable.length,
          from: root.querySelector('[name=from_version]').value,
          to: root.querySelector('[name=to_version]').value}))) return;
      var batches = [], size = 20, done = 0;
      for (var i = 0; i < movable.length; i += size) batches.push(movable.slice(i, i + size));
      go.disabled = true;
      bar.hidden = false;
      bar.max = movable.length;
      (function next() {
        var batch = batches.shift();
        if (!batch) { note.textContent = fill(T.done, {m: done}); movable = []; recount(done); return; }
        note.textContent = fill(T.progress, {i: done, n: bar.max});
        request({dry_run: false, ticket_ids: batch}).then(function (r) {
          if (r.status !== 200) { note.textContent = T.failed + message(r.data); return; }
          r.data.cases.forEach(function (c) { row(c, c.moved ? T.moved : T.notMovable); });
          done += r.data.moved;
          bar.value = bar.max - batches.reduce(function (n, b) { return n + b.length; }, 0);
          next();
        });
      })();
    });
  }

  function comparePage() {
    var oldBox = document.getElementById('old');
    if (!oldBox || !window.AftercareDiff) return;
    var changes = JSON.parse(text('changes') || '{}');
    window.AftercareDiff.show(oldBox, document.getElementById('new'), text('old-xml'), text('new-xml'),
      {added: changes.added || [], removed: changes.removed || [], changed: changes.changed || []},
      {lang: zh ? 'zh-CN' : 'en'});
  }

  document.addEventListener('click', function (event) {
    var ask = event.target.dataset && event.target.dataset.confirm;
    if (ask && !window.confirm(ask)) event.preventDefault();
  });
  var editorRoot = document.getElementById('editor');
  // Readers (managers, admins without the owner's role) see the diagram, not the modeler.
  if (editorRoot && !(editorRoot.dataset.kind === 'bpmn' && !editorRoot.dataset.owner)) editorPage(editorRoot);
  var migration = document.getElementById('migration');
  if (migration && migration.querySelector('tbody')) migrationPanel(migration);
  viewer();
  comparePage();
}());
