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

  // dmn-js's own labels in Chinese (its translate service; any label not listed stays English).
  var ZH = {
    'When': '当', 'And': '且', 'Then': '则', 'Hit policy': '命中策略', 'Hit policy:': '命中策略：',
    'Annotations': '备注', 'Annotation': '备注', 'Add rule': '添加规则', 'Add rule above': '在上方添加规则',
    'Add rule below': '在下方添加规则', 'Remove rule': '删除规则', 'Copy rule': '复制规则', 'Cut rule': '剪切规则',
    'Paste rule above': '粘贴到上方', 'Paste rule below': '粘贴到下方', 'Move rule': '移动规则',
    'Add input': '添加输入', 'Add output': '添加输出', 'Add input column left': '在左侧添加输入列',
    'Add input column right': '在右侧添加输入列', 'Add output column left': '在左侧添加输出列',
    'Add output column right': '在右侧添加输出列', 'Remove input column': '删除输入列',
    'Remove output column': '删除输出列', 'Copy input column': '复制输入列', 'Copy output column': '复制输出列',
    'Cut input column': '剪切输入列', 'Cut output column': '剪切输出列',
    'Paste input column left': '粘贴到左侧', 'Paste input column right': '粘贴到右侧',
    'Paste output column left': '粘贴到左侧', 'Paste output column right': '粘贴到右侧',
    'Input': '输入', 'Output': '输出', 'Input label': '输入名称', 'Input expression': '输入表达式',
    'Output label': '输出名称', 'Output name': '输出变量', 'Input type': '输入类型', 'Output type': '输出类型',
    'Type': '类型', 'Expression': '表达式', 'Expression language': '表达式语言', 'Value': '值', 'Values': '值',
    'Input values': '输入取值', 'Output values': '输出取值', 'Predefined values': '预设取值',
    'Add predefined values': '添加预设取值', 'Clear predefined values': '清除预设取值', 'Add values': '添加取值',
    'Custom values': '自定义取值', 'No values': '无取值', 'Edit': '编辑', 'Edit string': '编辑文本',
    'Edit number': '编辑数字', 'Edit boolean': '编辑布尔值', 'Enter expression': '输入表达式',
    'Add cell description': '添加单元格说明', 'Remove cell description': '删除单元格说明',
    'Strings must be in double quotes': '文本须加双引号', 'Decision name': '决策名称', 'View DRD': '查看决策图',
    'Yes': '是', 'No': '否', 'Resize': '调整宽度', 'Match one': '匹配其一', 'Match none': '都不匹配',
    'Equals': '等于', 'Comparison': '比较', 'Range': '区间', 'Include': '包含', 'Exclude': '排除',
    // the hit policies (the table's header and its menu)
    'Unique': '唯一命中', 'First': '首条命中', 'Priority': '按优先级', 'Any': '任一命中', 'Collect': '汇总',
    'Collect (Sum)': '汇总（求和）', 'Collect (Min)': '汇总（最小值）', 'Collect (Max)': '汇总（最大值）',
    'Collect (Count)': '汇总（计数）', 'Rule order': '按规则顺序', 'Output order': '按输出顺序',
    // the condition editors of a cell
    'Comparison operator': '比较运算符', 'Less': '小于', 'Less or equals': '小于等于', 'Greater': '大于',
    'Greater or equals': '大于等于', 'Exactly': '恰好', 'Before': '早于', 'After': '晚于', 'Between': '介于',
    'Range start value': '区间起点', 'Range end value': '区间终点', 'Range start operator': '起点运算符',
    'Range end operator': '终点运算符', 'Set value': '设定值', 'Start value': '起始值', 'End value': '结束值',
    'Test type': '判断方式', 'Boolean value': '布尔值', 'String value': '文本值', 'Edit input': '编辑输入',
    'Edit output': '编辑输出', 'Change type': '更改类型', 'Delete': '删除', 'Search in diagram': '在图中搜索'
  };

  function translator(lang) {
    return function (template, replacements) {
      var text = (lang === 'zh-CN' && ZH[template]) || template;
      return text.replace(/{([^}]+)}/g, function (_m, key) {
        return replacements && key in replacements ? replacements[key] : '{' + key + '}';
      });
    };
  }

  function open(container, xml, options) {
    options = options || {};
    var DmnJS = options.DmnJS || window.DmnJS;
    if (!DmnJS) { throw new Error('AftercareDmn: include /vendor/dmn-js/dmn-modeler.*.js before dmn.js'); }
    container.classList.add('wb-dmn');
    var lang = options.lang || document.documentElement.lang || 'zh-CN';
    // dmn-js replaces `common.additionalModules` with each view's own, so the translation goes to every view.
    var translated = {additionalModules: [{translate: ['value', translator(lang)]}]};
    var modeler = new DmnJS({container: container, drd: translated, decisionTable: translated,
                             literalExpression: translated, boxedExpression: translated});
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
