/*
 * Aftercare workbench: the BPMN modeler with Aftercare's own properties panel (plain ES2019, no bundler).
 *
 * A page includes, in this order (bpmn-js's dist folder is mounted at /vendor/bpmn-js):
 *
 *   <link rel="stylesheet" href="/vendor/bpmn-js/assets/diagram-js.css">
 *   <link rel="stylesheet" href="/vendor/bpmn-js/assets/bpmn-js.css">
 *   <link rel="stylesheet" href="/vendor/bpmn-js/assets/bpmn-font/css/bpmn-embedded.css">
 *   <link rel="stylesheet" href="/static/workbench/workbench.css">
 *   <script src="/vendor/bpmn-js/bpmn-modeler.production.min.js"></script>   (defines window.BpmnJS = the Modeler)
 *   <script src="/static/workbench/modeler.js"></script>                       (defines window.AftercareModeler)
 *
 * This script remembers the Modeler it finds in window.BpmnJS when it loads, so a page that also shows a diff may
 * include bpmn-navigated-viewer.production.min.js and diff.js *after* it (that script overwrites window.BpmnJS).
 *
 *   <div class="wb-layout">
 *     <div id="canvas"></div>            (gets class wb-canvas: 560 px high, 60vh on a phone)
 *     <div id="panel"></div>             (gets class wb-panel: beside the canvas, below it under 760 px)
 *   </div>
 *
 *   var m = AftercareModeler.open(document.getElementById('canvas'), document.getElementById('panel'), xmlText, {
 *     lang: 'zh-CN',                         // or 'en'; default: <html lang>
 *     forms: ['triage.json', ...],           // form file names for a user task's form select
 *     processes: ['complaint', {id: 'fault_handling', name: '故障处理 Fault handling'}],   // calledElement choices
 *     decisions: ['sla', 'entitlement'],     // spiffworkflow:calledDecisionId choices (strings or {id, name})
 *     roles: [...],                          // lane roles; default service_desk, engineer, expert, manager,
 *                                            // product, process_owner, admin, customer
 *     statuses: [...], emailTemplates: [...],// suggestions (datalists) for the status / email_template fields
 *     file: 'maintenance_request.bpmn'       // showProblems ignores problems whose `file` names another file
 *   });
 *   m.ready                 -> Promise resolved once the XML is drawn ({warnings}); rejected on an import error
 *   m.saveXML()             -> Promise<string> (formatted XML; commits a field being edited first)
 *   m.showProblems([{file, element_id, line, message, message_zh}])  red marker (class wb-problem) + badge on each
 *                              element with a problem; the previous call's markers are cleared; the panel lists them
 *   m.onChange(cb)          -> cb() after every edit, undo or redo; returns a function that unsubscribes
 *   m.selectElement(id)     -> selects the element, scrolls to it and shows it in the panel (false if unknown)
 *   m.undo(), m.redo(), m.fit(), m.destroy(), m.modeler (the bpmn-js instance)
 *
 * Every edit in the panel goes through bpmn-js's command stack (modeling.updateProperties /
 * updateModdleProperties, several at once as one step), so Ctrl+Z / the toolbar's undo button revert it.
 */
(function () {
  'use strict';

  function isModelerClass(C) {
    return typeof C === 'function' && !!(C.prototype && C.prototype._modelingModules);
  }

  var LOADED_MODELER = isModelerClass(window.BpmnJS) ? window.BpmnJS : null;

  // Moddle descriptor for the spiffworkflow extension elements Aftercare's diagrams use.
  var SPIFFWORKFLOW = {
    name: 'SpiffWorkflow',
    uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core',
    prefix: 'spiffworkflow',
    associations: [],
    types: [
      {name: 'instructionsForEndUser', superClass: ['Element'],
        properties: [{name: 'text', isBody: true, type: 'String'}]},
      {name: 'preScript', superClass: ['Element'], properties: [{name: 'script', isBody: true, type: 'String'}]},
      {name: 'postScript', superClass: ['Element'], properties: [{name: 'script', isBody: true, type: 'String'}]},
      {name: 'calledDecisionId', superClass: ['Element'],
        properties: [{name: 'decisionId', isBody: true, type: 'String'}]},
      {name: 'properties', superClass: ['Element'],
        properties: [{name: 'properties', type: 'property', isMany: true}]},
      {name: 'property', superClass: ['Element'], properties: [
        {name: 'name', isAttr: true, type: 'String'},
        {name: 'value', isAttr: true, type: 'String'}
      ]}
    ],
    enumerations: []
  };

  var ROLES = ['service_desk', 'engineer', 'expert', 'manager', 'product', 'process_owner', 'admin', 'customer'];

  var DICT = {
    en: {
      properties: 'Properties', nothing: 'Select an element in the diagram.', id: 'ID', name: 'Name',
      documentation: 'Documentation', type: 'Type', role: 'Role', roleHint: 'The lane\'s name is the role whose staff work its tasks.',
      task: 'Task', form: 'Form', noForm: '(no form)', instructions: 'Instructions for the user',
      instructionsHint: 'Markdown with {{ variables }}; shown above the form.',
      due: 'Due', dueHint: 'Python expression giving the deadline, e.g. resolve_due or add_working_hours(created_at, 4, \'working\').',
      status: 'Ticket status', statusHint: 'The ticket\'s status while this task is open.',
      assignee: 'Assignee variable', assigneeHint: 'Name of the case variable holding the user who gets the task straight away.',
      emailTemplate: 'E-mail template', emailTemplateHint: 'Mail sent to the customer when the task opens.',
      scripts: 'Scripts', preScript: 'Pre-script', preScriptHint: 'Python run before the task starts.',
      postScript: 'Post-script', postScriptHint: 'Python run after the task completes.',
      script: 'Script', scriptHint: 'Python; case variables are plain names.',
      condition: 'Condition', conditionHint: 'Python expression, e.g. category == \'fault\'.',
      defaultFlow: 'Default flow (taken when no condition holds)', isDefault: 'This is the gateway\'s default flow: it needs no condition.',
      timer: 'Timer', timerType: 'Timer type', timeDate: 'Date (timeDate)', timeDuration: 'Duration (timeDuration)',
      timeCycle: 'Cycle (timeCycle)', expression: 'Expression',
      timerHint: 'A Python expression: quote literal ISO 8601 values ("PT4H", "R/PT4H") or name a variable (resolve_due).',
      interrupting: 'Interrupting (cancels the task)',
      calledElement: 'Called process', decision: 'Decision (DMN)', none: '(none)', notInList: 'not in the list',
      problems: 'Problems', badId: 'An ID starts with a letter or _ and holds only letters, digits, _ . -',
      takenId: 'This ID is already used.', undo: 'Undo', redo: 'Redo', fit: 'Fit to screen', zoomIn: 'Zoom in',
      zoomOut: 'Zoom out'
    },
    'zh-CN': {
      properties: '属性', nothing: '请在图中选择一个元素。', id: 'ID', name: '名称',
      documentation: '说明', type: '类型', role: '角色', roleHint: '泳道名称即负责其中任务的角色。',
      task: '任务', form: '表单', noForm: '（无表单）', instructions: '给处理人的说明',
      instructionsHint: 'Markdown，可用 {{ 变量 }}；显示在表单上方。',
      due: '时限', dueHint: 'Python 表达式，结果为截止时间，例如 resolve_due 或 add_working_hours(created_at, 4, \'working\')。',
      status: '工单状态', statusHint: '此任务未完成期间工单的状态。',
      assignee: '指派变量', assigneeHint: '流程变量名，其值为直接接收此任务的用户。',
      emailTemplate: '邮件模板', emailTemplateHint: '任务开始时发给客户的邮件。',
      scripts: '脚本', preScript: '前置脚本', preScriptHint: '任务开始前运行的 Python。',
      postScript: '后置脚本', postScriptHint: '任务完成后运行的 Python。',
      script: '脚本', scriptHint: 'Python；流程变量直接以名称使用。',
      condition: '条件', conditionHint: 'Python 表达式，例如 category == \'fault\'。',
      defaultFlow: '默认路径（所有条件都不成立时走此路径）', isDefault: '这是网关的默认路径，无需条件。',
      timer: '定时器', timerType: '定时类型', timeDate: '日期 (timeDate)', timeDuration: '时长 (timeDuration)',
      timeCycle: '周期 (timeCycle)', expression: '表达式',
      timerHint: 'Python 表达式：ISO 8601 字面值须加引号（"PT4H"、"R/PT4H"），或写变量名（resolve_due）。',
      interrupting: '中断任务',
      calledElement: '调用的流程', decision: '决策表 (DMN)', none: '（无）', notInList: '不在列表中',
      problems: '问题', badId: 'ID 须以字母或 _ 开头，只含字母、数字及 _ . -',
      takenId: '此 ID 已被使用。', undo: '撤销', redo: '重做', fit: '适合屏幕', zoomIn: '放大', zoomOut: '缩小'
    }
  };

  var ROLE_NAMES = {
    service_desk: ['服务台', 'Service desk'], engineer: ['工程师', 'Engineer'], expert: ['专家', 'Expert'],
    manager: ['服务经理', 'Service manager'], product: ['产品团队', 'Product team'],
    process_owner: ['流程负责人', 'Process owner'], admin: ['管理员', 'Administrator'], customer: ['客户', 'Customer']
  };

  var TYPE_NAMES = {
    'bpmn:StartEvent': ['开始事件', 'Start event'], 'bpmn:EndEvent': ['结束事件', 'End event'],
    'bpmn:BoundaryEvent': ['边界事件', 'Boundary event'],
    'bpmn:IntermediateCatchEvent': ['中间捕获事件', 'Intermediate catch event'],
    'bpmn:IntermediateThrowEvent': ['中间抛出事件', 'Intermediate throw event'],
    'bpmn:UserTask': ['用户任务', 'User task'], 'bpmn:ScriptTask': ['脚本任务', 'Script task'],
    'bpmn:ManualTask': ['人工任务', 'Manual task'], 'bpmn:ServiceTask': ['服务任务', 'Service task'],
    'bpmn:BusinessRuleTask': ['业务规则任务', 'Business rule task'], 'bpmn:Task': ['任务', 'Task'],
    'bpmn:CallActivity': ['调用活动', 'Call activity'], 'bpmn:SubProcess': ['子流程', 'Sub-process'],
    'bpmn:ExclusiveGateway': ['排他网关', 'Exclusive gateway'], 'bpmn:ParallelGateway': ['并行网关', 'Parallel gateway'],
    'bpmn:InclusiveGateway': ['包容网关', 'Inclusive gateway'], 'bpmn:EventBasedGateway': ['事件网关', 'Event-based gateway'],
    'bpmn:SequenceFlow': ['顺序流', 'Sequence flow'], 'bpmn:Lane': ['泳道', 'Lane'],
    'bpmn:Participant': ['池', 'Pool'], 'bpmn:Process': ['流程', 'Process'],
    'bpmn:Collaboration': ['协作', 'Collaboration'], 'bpmn:TextAnnotation': ['注释', 'Annotation']
  };

  // helpers ////////////////////////////////////////////////////////////////////////////////////////////////////

  function isA(bo, type) { return !!(bo && bo.$instanceOf && bo.$instanceOf(type)); }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) { return; }
      if (k === 'text') { node.textContent = v; } else if (k === 'className') { node.className = v; } else if (k.indexOf('on') === 0) {
        node.addEventListener(k.slice(2), v);
      } else if (k === 'value') { node.value = v; } else if (v === true) { node.setAttribute(k, ''); } else { node.setAttribute(k, v); }
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) { return; }
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function choices(list) {
    return (list || []).map(function (c) {
      if (typeof c === 'string') { return {value: c, label: c}; }
      var v = c.value !== undefined ? c.value : c.id;
      return {value: v, label: c.label || (c.name && c.name !== v ? v + ' · ' + c.name : v)};
    });
  }

  function langOf(options) {
    var l = options.lang || document.documentElement.lang || 'en';
    return /^zh/i.test(l) ? 'zh-CN' : 'en';
  }

  // Scroll (keeping the zoom) so the element sits in the middle of the canvas, unless it is well inside already.
  function centerOn(canvas, el) {
    var pts = el.waypoints || [{x: el.x, y: el.y}, {x: el.x + el.width, y: el.y + el.height}];
    var xs = pts.map(function (p) { return p.x; }), ys = pts.map(function (p) { return p.y; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var vb = canvas.viewbox(), mx = vb.width * 0.2, my = vb.height * 0.2;
    if (x0 >= vb.x + mx && x1 <= vb.x + vb.width - mx && y0 >= vb.y + my && y1 <= vb.y + vb.height - my) { return; }
    canvas.viewbox({x: (x0 + x1) / 2 - vb.width / 2, y: (y0 + y1) / 2 - vb.height / 2, width: vb.width, height: vb.height});
  }

  function baseName(path) { return String(path || '').split(/[\\/]/).pop(); }

  // open ///////////////////////////////////////////////////////////////////////////////////////////////////////

  function open(container, panelContainer, xml, options) {
    options = options || {};
    var lang = langOf(options);
    var T = function (key) { return DICT[lang][key] || DICT.en[key] || key; };
    var Modeler = options.Modeler || LOADED_MODELER || (isModelerClass(window.BpmnJS) ? window.BpmnJS : null);
    if (!Modeler) { throw new Error('AftercareModeler: include /vendor/bpmn-js/bpmn-modeler.*.js before modeler.js'); }

    container.classList.add('wb-canvas');
    if (panelContainer) { panelContainer.classList.add('wb-panel'); panelContainer.setAttribute('lang', lang); }

    var modeler = new Modeler({
      container: container,
      moddleExtensions: Object.assign({spiffworkflow: SPIFFWORKFLOW}, options.moddleExtensions || {})
    });
    var eventBus = modeler.get('eventBus'), canvas = modeler.get('canvas'), registry = modeler.get('elementRegistry');
    var modeling = modeler.get('modeling'), bpmnFactory = modeler.get('bpmnFactory');
    var commandStack = modeler.get('commandStack'), selection = modeler.get('selection'), overlays = modeler.get('overlays');
    var moddle = modeler.get('moddle');
    var problems = [], marked = [], activeCommit = null, imported = false;

    // An edit is a plan: a list of modeling.updateProperties / updateModdleProperties calls. Several of them run
    // as one undoable step (commands executed in another command's preExecute are undone with it).
    function apply(c) {
      if (c[0] === 'element.updateProperties') { modeling.updateProperties(c[1].element, c[1].properties); } else {
        modeling.updateModdleProperties(c[1].element, c[1].moddleElement, c[1].properties);
      }
    }
    commandStack.register('aftercare.multi', {
      preExecute: function (ctx) { ctx.commands.forEach(apply); },
      execute: function () { return []; },
      revert: function () { return []; }
    });

    function run(plan) {
      if (!plan.length) { return; }
      if (plan.length === 1) { apply(plan[0]); } else { commandStack.execute('aftercare.multi', {commands: plan}); }
    }
    function upd(element, moddleElement, properties) {
      return ['element.updateModdleProperties', {element: element, moddleElement: moddleElement, properties: properties}];
    }
    function updEl(element, properties) { return ['element.updateProperties', {element: element, properties: properties}]; }

    // extension elements ///////////////////////////////////////////////////////////////////////////////////////
    function extValues(bo) { return bo.extensionElements ? (bo.extensionElements.get('values') || []) : []; }
    function findExt(bo, type) { return extValues(bo).filter(function (v) { return isA(v, type); })[0]; }

    function planExtValues(plan, element, bo, values) {
      var ext = bo.extensionElements;
      if (!values.length) { if (ext) { plan.push(upd(element, bo, {extensionElements: undefined})); } return; }
      if (!ext) {
        ext = bpmnFactory.create('bpmn:ExtensionElements', {values: values});
        ext.$parent = bo;
        values.forEach(function (v) { v.$parent = ext; });
        plan.push(upd(element, bo, {extensionElements: ext}));
        return;
      }
      values.forEach(function (v) { v.$parent = ext; });
      plan.push(upd(element, ext, {values: values}));
    }

    // A body-text extension element (instructionsForEndUser, preScript, postScript, calledDecisionId).
    function setBodyExt(element, type, prop, value) {
      var bo = element.businessObject, existing = findExt(bo, type), plan = [];
      value = value.replace(/\r\n/g, '\n');
      if (value.trim() === '') {
        if (existing) { planExtValues(plan, element, bo, extValues(bo).filter(function (v) { return v !== existing; })); }
      } else if (existing) {
        plan.push(upd(element, existing, (function () { var o = {}; o[prop] = value; return o; })()));
      } else {
        var attrs = {}; attrs[prop] = value;
        planExtValues(plan, element, bo, extValues(bo).concat([bpmnFactory.create(type, attrs)]));
      }
      run(plan);
    }
    function getBodyExt(bo, type, prop) { var e = findExt(bo, type); return (e && e.get(prop)) || ''; }

    // A spiffworkflow:properties entry.
    function getProp(bo, name) {
      var props = findExt(bo, 'spiffworkflow:properties');
      var entry = props && (props.get('properties') || []).filter(function (p) { return p.name === name; })[0];
      return (entry && entry.value) || '';
    }
    function setProp(element, name, value) {
      var bo = element.businessObject, plan = [], props = findExt(bo, 'spiffworkflow:properties');
      var list = props ? (props.get('properties') || []) : [];
      var entry = list.filter(function (p) { return p.name === name; })[0];
      value = value.trim();
      if (!value) {
        if (!entry) { return; }
        var rest = list.filter(function (p) { return p !== entry; });
        if (rest.length) { plan.push(upd(element, props, {properties: rest})); } else {
          planExtValues(plan, element, bo, extValues(bo).filter(function (v) { return v !== props; }));
        }
      } else if (entry) {
        plan.push(upd(element, entry, {value: value}));
      } else {
        entry = bpmnFactory.create('spiffworkflow:property', {name: name, value: value});
        if (props) {
          entry.$parent = props;
          plan.push(upd(element, props, {properties: list.concat([entry])}));
        } else {
          props = bpmnFactory.create('spiffworkflow:properties', {properties: [entry]});
          entry.$parent = props;
          planExtValues(plan, element, bo, extValues(bo).concat([props]));
        }
      }
      run(plan);
    }

    function formal(body) {
      return body.trim() ? bpmnFactory.create('bpmn:FormalExpression', {body: body}) : undefined;
    }

    // panel //////////////////////////////////////////////////////////////////////////////////////////////////
    var current = null, rendered = null; // the element to show in the panel, the one shown

    // A text field that commits on change (blur / Enter), or when saveXML runs while it has focus.
    function textField(key, value, commit, opts) {
      opts = opts || {};
      var id = 'wb-f-' + key + '-' + Math.random().toString(36).slice(2, 7);
      var input, err = h('div', {className: 'wb-error', role: 'alert'});
      if (opts.multiline) {
        input = h('textarea', {id: id, rows: opts.rows || 4, className: opts.code ? 'wb-code' : '', spellcheck: opts.code ? 'false' : null});
      } else {
        input = h('input', {id: id, type: 'text', className: opts.code ? 'wb-code' : '', spellcheck: opts.code ? 'false' : null,
          list: opts.datalist ? id + '-list' : null});
      }
      input.value = value || '';
      input.dataset.field = key;
      var last = input.value;
      function doCommit() {
        if (input.value === last) { return; }
        var problem = opts.validate && opts.validate(input.value);
        err.textContent = problem || '';
        input.classList.toggle('wb-invalid', !!problem);
        if (problem) { return; }
        last = input.value;
        fromPanel = true;
        try { commit(input.value); } finally { fromPanel = false; }
      }
      input.addEventListener('change', doCommit);
      input.addEventListener('focus', function () { activeCommit = doCommit; });
      input.addEventListener('blur', function () { if (activeCommit === doCommit) { activeCommit = null; } });
      if (!opts.multiline) {
        input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { e.preventDefault(); doCommit(); } });
      }
      var dl = opts.datalist ? h('datalist', {id: id + '-list'}, choices(opts.datalist).map(function (c) {
        return h('option', {value: c.value});
      })) : null;
      return fieldRow(key, id, opts.label || T(key), [input, dl, err], opts.hint, opts.xmlName);
    }

    function selectField(key, value, list, commit, opts) {
      opts = opts || {};
      var id = 'wb-f-' + key + '-' + Math.random().toString(36).slice(2, 7);
      var items = choices(list), known = items.some(function (c) { return c.value === value; });
      var sel = h('select', {id: id}, [opts.emptyLabel !== undefined ? h('option', {value: '', text: opts.emptyLabel}) : null]
        .concat(!known && value ? [h('option', {value: value, text: value + ' (' + T('notInList') + ')'})] : [])
        .concat(items.map(function (c) { return h('option', {value: c.value, text: c.label}); })));
      sel.value = value || '';
      sel.dataset.field = key;
      if (!known && value) { sel.classList.add('wb-warn'); }
      sel.addEventListener('change', function () { commit(sel.value); });
      return fieldRow(key, id, opts.label || T(key), [sel], opts.hint, opts.xmlName);
    }

    function checkField(key, checked, commit, label) {
      var id = 'wb-f-' + key + '-' + Math.random().toString(36).slice(2, 7);
      var box = h('input', {id: id, type: 'checkbox'});
      box.checked = !!checked;
      box.dataset.field = key;
      box.addEventListener('change', function () { commit(box.checked); });
      return h('div', {className: 'wb-field wb-check'}, [box, h('label', {'for': id, text: label})]);
    }

    function fieldRow(key, id, label, controls, hint, xmlName) {
      return h('div', {className: 'wb-field wb-field-' + key}, [
        h('label', {'for': id, text: label, title: xmlName || null})
      ].concat(controls).concat([hint ? h('div', {className: 'wb-hint', text: hint}) : null]));
    }

    function section(title, rows) {
      rows = rows.filter(Boolean);
      return rows.length ? h('fieldset', {className: 'wb-section'}, [h('legend', {text: title})].concat(rows)) : null;
    }

    function typeLabel(bo) {
      var names = TYPE_NAMES[bo.$type];
      return names ? names[lang === 'zh-CN' ? 0 : 1] : bo.$type.replace(/^bpmn:/, '');
    }

    function validateId(element) {
      return function (v) {
        if (!/^[A-Za-z_][\w.-]*$/.test(v)) { return T('badId'); }
        var owner = moddle.ids.assigned(v);
        if (owner && owner !== element.businessObject) { return T('takenId'); }
        return null;
      };
    }

    function problemsFor(id) { return problems.filter(function (p) { return p.element_id === id; }); }

    function problemList(list, clickable) {
      if (!list.length) { return null; }
      return h('div', {className: 'wb-panel-problems', role: 'alert'}, [h('strong', {text: T('problems') + ' (' + list.length + ')'}),
        h('ul', {}, list.map(function (p) {
          var msg = (lang === 'zh-CN' && p.message_zh) ? p.message_zh : (p.message || p.message_zh || '');
          var where = [p.element_id, p.line ? (lang === 'zh-CN' ? '第 ' + p.line + ' 行' : 'line ' + p.line) : '']
            .filter(Boolean).join(', ');
          var item = h('li', {}, [where ? h('code', {text: where}) : null, ' ' + msg]);
          if (clickable && p.element_id && registry.get(p.element_id)) {
            item.classList.add('wb-link');
            item.tabIndex = 0;
            item.addEventListener('click', function () { api.selectElement(p.element_id); });
            item.addEventListener('keydown', function (e) { if (e.key === 'Enter') { api.selectElement(p.element_id); } });
          }
          return item;
        }))]);
    }

    function renderPanel() {
      if (!panelContainer) { return; }
      var element = current && registry.get(current.id) === current ? current : canvas.getRootElement();
      var scroll = element === rendered ? panelContainer.scrollTop : 0;
      current = rendered = element;
      stale = false;
      activeCommit = null;
      panelContainer.textContent = '';
      if (!element || !element.businessObject) {
        panelContainer.appendChild(h('p', {className: 'wb-hint', text: T('nothing')}));
        return;
      }
      var bo = element.businessObject, isRoot = element === canvas.getRootElement();
      var rows = [];
      rows.push(h('div', {className: 'wb-panel-head'}, [
        h('span', {className: 'wb-type', text: typeLabel(bo)}), h('code', {text: bo.id || ''})
      ]));
      rows.push(isRoot ? problemList(problems, true) : problemList(problemsFor(bo.id), false));
      if (isRoot && !imported) { panelContainer.appendChild(h('div', {}, rows.filter(Boolean))); return; }

      var general = [];
      if (!isRoot || bo.id) {
        general.push(textField('id', bo.id, function (v) { run([updEl(element, {id: v})]); },
          {validate: validateId(element), code: true}));
      }
      var isLane = isA(bo, 'bpmn:Lane');
      if (isLane) {
        var roles = choices(options.roles || ROLES).map(function (c) {
          var n = ROLE_NAMES[c.value];
          return {value: c.value, label: n ? c.value + ' · ' + n[lang === 'zh-CN' ? 0 : 1] : c.label};
        });
        general.push(selectField('role', bo.name || '', roles, function (v) { run([updEl(element, {name: v || undefined})]); },
          {emptyLabel: T('none'), hint: T('roleHint')}));
      } else if (!isA(bo, 'bpmn:Collaboration') || bo.name) {
        general.push(textField('name', bo.name, function (v) { run([updEl(element, {name: v.trim() ? v : undefined})]); }));
      }
      var docs = (bo.get && bo.$descriptor.propertiesByName.documentation) ? bo.get('documentation') : null;
      if (docs) {
        general.push(textField('documentation', docs.length ? docs[0].text : '', function (v) {
          var list = v.trim() ? [bpmnFactory.create('bpmn:Documentation', {text: v})].concat(docs.slice(1)) : docs.slice(1);
          list.forEach(function (d) { d.$parent = bo; });
          run([upd(element, bo, {documentation: list})]);
        }, {multiline: true, rows: 3}));
      }
      rows.push(section(T('properties'), general));

      if (isA(bo, 'bpmn:UserTask')) {
        rows.push(section(T('task'), [
          selectField('form', getProp(bo, 'formJsonSchemaFilename'), options.forms, function (v) {
            setProp(element, 'formJsonSchemaFilename', v);
          }, {emptyLabel: T('noForm'), xmlName: 'formJsonSchemaFilename'}),
          textField('instructions', getBodyExt(bo, 'spiffworkflow:instructionsForEndUser', 'text'), function (v) {
            setBodyExt(element, 'spiffworkflow:instructionsForEndUser', 'text', v);
          }, {multiline: true, rows: 8, hint: T('instructionsHint'), xmlName: 'spiffworkflow:instructionsForEndUser'}),
          textField('due', getProp(bo, 'due'), function (v) { setProp(element, 'due', v); },
            {code: true, hint: T('dueHint'), xmlName: 'due'}),
          textField('status', getProp(bo, 'status'), function (v) { setProp(element, 'status', v); },
            {datalist: options.statuses, hint: T('statusHint'), xmlName: 'status'}),
          textField('assignee', getProp(bo, 'assignee'), function (v) { setProp(element, 'assignee', v); },
            {code: true, hint: T('assigneeHint'), xmlName: 'assignee'}),
          textField('emailTemplate', getProp(bo, 'email_template'), function (v) { setProp(element, 'email_template', v); },
            {datalist: options.emailTemplates, hint: T('emailTemplateHint'), xmlName: 'email_template'})
        ]));
      }
      if (isA(bo, 'bpmn:ScriptTask')) {
        rows.push(section(T('script'), [
          textField('script', bo.script || '', function (v) {
            var props = {script: v.replace(/\r\n/g, '\n') || undefined};
            if (!bo.scriptFormat) { props.scriptFormat = 'python'; }
            run([updEl(element, props)]);
          }, {multiline: true, rows: 10, code: true, hint: T('scriptHint'), xmlName: 'bpmn:script'})
        ]));
      }
      if (isA(bo, 'bpmn:BusinessRuleTask')) {
        rows.push(section(T('decision'), [
          selectField('decision', getBodyExt(bo, 'spiffworkflow:calledDecisionId', 'decisionId'), options.decisions, function (v) {
            setBodyExt(element, 'spiffworkflow:calledDecisionId', 'decisionId', v);
          }, {emptyLabel: T('none'), xmlName: 'spiffworkflow:calledDecisionId'})
        ]));
      }
      if (isA(bo, 'bpmn:CallActivity')) {
        rows.push(section(T('calledElement'), [
          selectField('calledElement', bo.calledElement || '', options.processes, function (v) {
            run([updEl(element, {calledElement: v || undefined})]);
          }, {emptyLabel: T('none'), xmlName: 'calledElement'})
        ]));
      }
      // SpiffWorkflow runs pre/post scripts around every activity but a script task (which is a script itself).
      if (isA(bo, 'bpmn:Activity') && !isA(bo, 'bpmn:ScriptTask')) {
        rows.push(section(T('scripts'), [
          textField('preScript', getBodyExt(bo, 'spiffworkflow:preScript', 'script'), function (v) {
            setBodyExt(element, 'spiffworkflow:preScript', 'script', v);
          }, {multiline: true, rows: 3, code: true, hint: T('preScriptHint'), xmlName: 'spiffworkflow:preScript'}),
          textField('postScript', getBodyExt(bo, 'spiffworkflow:postScript', 'script'), function (v) {
            setBodyExt(element, 'spiffworkflow:postScript', 'script', v);
          }, {multiline: true, rows: 3, code: true, hint: T('postScriptHint'), xmlName: 'spiffworkflow:postScript'})
        ]));
      }
      if (isA(bo, 'bpmn:SequenceFlow') && isA(bo.sourceRef, 'bpmn:Gateway') && !isA(bo.sourceRef, 'bpmn:ParallelGateway')) {
        rows.push(conditionSection(element, bo));
      }
      var timer = (bo.eventDefinitions || []).filter(function (d) { return isA(d, 'bpmn:TimerEventDefinition'); })[0];
      if (timer) { rows.push(timerSection(element, bo, timer)); }

      panelContainer.appendChild(h('div', {}, rows.filter(Boolean)));
      panelContainer.scrollTop = scroll;
    }

    function conditionSection(element, bo) {
      var gateway = bo.sourceRef, gatewayShape = registry.get(gateway.id), isDefault = gateway.default === bo;
      var rows = [];
      if (isDefault) {
        rows.push(h('p', {className: 'wb-hint', text: T('isDefault')}));
      } else {
        rows.push(textField('condition', (bo.conditionExpression && bo.conditionExpression.body) || '', function (v) {
          run([updEl(element, {conditionExpression: formal(v)})]);
        }, {code: true, multiline: true, rows: 2, hint: T('conditionHint'), xmlName: 'bpmn:conditionExpression'}));
      }
      if (gatewayShape && (isA(gateway, 'bpmn:ExclusiveGateway') || isA(gateway, 'bpmn:InclusiveGateway') ||
          isA(gateway, 'bpmn:ComplexGateway'))) {
        rows.push(checkField('default', isDefault, function (on) {
          var plan = [updEl(gatewayShape, {'default': on ? bo : undefined})];
          if (on && bo.conditionExpression) { plan.push(updEl(element, {conditionExpression: undefined})); }
          run(plan);
        }, T('defaultFlow')));
      }
      return section(T('condition'), rows);
    }

    function timerSection(element, bo, timer) {
      var kinds = ['timeDate', 'timeDuration', 'timeCycle'];
      var kind = kinds.filter(function (k) { return timer.get(k); })[0] || 'timeDuration';
      var expr = timer.get(kind);
      var body = (expr && expr.body) || '';
      function write(newKind, newBody) {
        var props = {timeDate: undefined, timeDuration: undefined, timeCycle: undefined};
        var e = formal(newBody);
        if (e) { e.$parent = timer; }
        props[newKind] = e;
        run([upd(element, timer, props)]);
      }
      var rows = [
        selectField('timerType', kind, kinds.map(function (k) { return {value: k, label: T(k)}; }), function (v) {
          write(v, body);
        }, {xmlName: 'bpmn:timerEventDefinition'}),
        textField('expression', body, function (v) { write(kind, v); },
          {code: true, hint: T('timerHint'), xmlName: 'bpmn:' + kind})
      ];
      if (isA(bo, 'bpmn:BoundaryEvent')) {
        rows.push(checkField('interrupting', bo.cancelActivity !== false, function (on) {
          run([updEl(element, {cancelActivity: on})]);
        }, T('interrupting')));
      }
      return section(T('timer'), rows);
    }

    // toolbar ////////////////////////////////////////////////////////////////////////////////////////////////
    var toolbar = h('div', {className: 'wb-canvas-tools'}, [
      ['undo', '↶', function () { api.undo(); }], ['redo', '↷', function () { api.redo(); }],
      ['zoomOut', '−', function () { canvas.zoom(canvas.zoom() / 1.25); }],
      ['zoomIn', '+', function () { canvas.zoom(canvas.zoom() * 1.25); }],
      ['fit', '⤢', function () { api.fit(); }]
    ].map(function (b) {
      return h('button', {type: 'button', title: T(b[0]), 'aria-label': T(b[0]), 'data-action': b[0], text: b[1], onclick: b[2]});
    }));
    container.appendChild(toolbar);
    function updateToolbar() {
      toolbar.querySelector('[data-action=undo]').disabled = !commandStack.canUndo();
      toolbar.querySelector('[data-action=redo]').disabled = !commandStack.canRedo();
    }

    // events /////////////////////////////////////////////////////////////////////////////////////////////////
    eventBus.on('selection.changed', function (e) {
      current = e.newSelection.length === 1 ? e.newSelection[0] : null;
      renderPanel();
    });
    // A text field commits on change, which also fires as the user leaves it, typically for the next field of the
    // panel: rebuilding the panel at that moment would swallow that click, so then it is rebuilt once focus
    // leaves the panel. Otherwise (Enter, a select, undo) it is rebuilt at once, keeping the focused field.
    var stale = false, fromPanel = false;
    eventBus.on('commandStack.changed', function () {
      updateToolbar();
      var active = document.activeElement;
      var inPanel = panelContainer && panelContainer.contains(active);
      if (fromPanel && !inPanel) { stale = true; return; }
      if (!inPanel) { renderPanel(); return; }
      var focused = active.dataset && active.dataset.field, start = active.selectionStart, end = active.selectionEnd;
      renderPanel();
      var again = focused && panelContainer.querySelector('[data-field="' + focused + '"]');
      if (again) {
        again.focus();
        if (typeof start === 'number' && again.setSelectionRange) { try { again.setSelectionRange(start, end); } catch (e) { /* select */ } }
      }
    });
    if (panelContainer) {
      panelContainer.addEventListener('focusout', function (e) {
        if (stale && !panelContainer.contains(e.relatedTarget)) { renderPanel(); }
      });
    }

    function clearProblems() {
      overlays.remove({type: 'wb-problem'});
      marked.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, 'wb-problem'); } });
      marked = [];
    }

    function drawProblems() {
      clearProblems();
      var byId = {};
      problems.forEach(function (p) {
        if (p.element_id && registry.get(p.element_id)) { (byId[p.element_id] = byId[p.element_id] || []).push(p); }
      });
      Object.keys(byId).forEach(function (id) {
        var el = registry.get(id), list = byId[id];
        if (el === canvas.getRootElement()) { return; }
        canvas.addMarker(id, 'wb-problem');
        marked.push(id);
        var title = list.map(function (p) {
          return (lang === 'zh-CN' && p.message_zh) ? p.message_zh : (p.message || p.message_zh || '');
        }).join('\n');
        var badge = h('button', {type: 'button', className: 'wb-problem-badge', title: title, 'aria-label': title,
          text: list.length > 1 ? String(list.length) : '!'});
        badge.addEventListener('click', function (e) { e.stopPropagation(); api.selectElement(id); });
        // On a task the badge sits on the top right corner; an event or a gateway is too small for that (the badge
        // would hide its symbol), so there it sits beside its top left, clear of the context pad on its right.
        var small = !el.waypoints && el.width < 60;
        overlays.add(id, 'wb-problem', {position: small ? {top: -14, left: -14} : {top: -10, right: 10}, html: badge});
      });
    }

    var ready = modeler.importXML(xml).then(function (result) {
      imported = true;
      api.fit();
      updateToolbar();
      drawProblems();
      renderPanel();
      container.dataset.ready = 'true';
      return result;
    });
    ready.catch(function (err) {
      container.dataset.ready = 'error';
      container.insertBefore(h('div', {className: 'wb-import-error', role: 'alert', text: String(err && err.message || err)}),
        container.firstChild);
    });

    var api = {
      modeler: modeler,
      ready: ready,
      saveXML: function () {
        if (activeCommit) { activeCommit(); }
        return ready.then(function () { return modeler.saveXML({format: true}); }).then(function (r) { return r.xml; });
      },
      showProblems: function (list) {
        var wanted = options.file ? baseName(options.file) : null;
        problems = (list || []).filter(function (p) { return !wanted || !p.file || baseName(p.file) === wanted; });
        return ready.then(function () { drawProblems(); rendered = null; renderPanel(); });
      },
      onChange: function (cb) {
        var fn = function () { cb(api); };
        eventBus.on('commandStack.changed', fn);
        return function () { eventBus.off('commandStack.changed', fn); };
      },
      selectElement: function (id) {
        var el = imported && registry.get(id);
        if (!el) { return false; }
        if (el !== canvas.getRootElement()) {
          selection.select(el);
          centerOn(canvas, el);
        } else { selection.select(null); }
        current = el;
        renderPanel();
        return true;
      },
      undo: function () { commandStack.undo(); },
      redo: function () { commandStack.redo(); },
      // The whole diagram, or, when that would be too small to read, its top left corner (where it starts) at 70 %.
      fit: function () {
        canvas.zoom('fit-viewport');
        if (canvas.zoom() >= 0.45) { return; }
        var vb = canvas.viewbox(), z = 0.7, width = vb.outer.width, height = vb.outer.height;
        canvas.viewbox({x: vb.inner.x - 130 / z, y: vb.inner.y - 20 / z, width: width / z, height: height / z});
      },
      destroy: function () { modeler.destroy(); if (panelContainer) { panelContainer.textContent = ''; } }
    };
    return api;
  }

  window.AftercareModeler = {open: open, descriptor: SPIFFWORKFLOW, roles: ROLES, dictionary: DICT};
})();
