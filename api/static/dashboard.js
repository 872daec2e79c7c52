// The managers' dashboard: charts drawn with ECharts from GET /api/dashboard (same origin, the session cookie).
// The page reads without this script: every figure is also in the tables beside the charts, which stay hidden
// from screen readers (aria-hidden) for that reason. Clicking a bar or slice opens the matching ticket list.
(function () {
  'use strict';
  var root = document.getElementById('dashboard');
  if (!root || !window.echarts) return;
  var words = JSON.parse(root.dataset.labels || '{}');
  var status = document.getElementById('dash-status');
  var COLORS = {now: '#0b6bcb', last: '#9fb3c8', bad: '#c62828', warn: '#b7791f', grey: '#718096', target: '#1f2933'};
  var PALETTE = ['#0b6bcb', '#1b873f', '#b7791f', '#7b4fb8', '#c62828', '#718096', '#00897b'];
  var charts = [];

  function word(key) { return Object.prototype.hasOwnProperty.call(words, key) ? words[key] : String(key); }
  function round(value) { return value === null || value === undefined ? null : Math.round(value * 10) / 10; }
  function percent(rate) { return rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10; }
  function linkFor(el, key) {
    var each = el.dataset.each;
    return each ? each.replace('{key}', encodeURIComponent(key)) : el.dataset.link;
  }

  // What every chart shares: drawn at once, the page's font and colours, tooltips kept inside the chart, axis labels
  // inside the grid.
  function base(extra) {
    var option = {
      animation: false,
      color: PALETTE,
      textStyle: {fontFamily: 'system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif'},
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}, confine: true},
      grid: {left: 8, right: 16, top: 36, bottom: 8, containLabel: true},
      legend: {top: 0}
    };
    return Object.assign(option, extra);
  }

  // A legend too wide for the chart wraps to a second line: the plot then starts below it. The width is estimated
  // from the series names (a CJK character about 12 px, others about 7 px, 35 px for each symbol and gap).
  function roomForLegend(option, width) {
    if (!option.legend || option.legend.show === false || !option.grid || option.grid.top !== 36) return option;
    var needed = option.series.reduce(function (sum, series) {
      var text = String(series.name || '');
      var cjk = (text.match(/[\u3000-\u9fff\uff00-\uffef]/g) || []).length;
      return sum + 35 + cjk * 12 + (text.length - cjk) * 7;
    }, 0);
    if (needed > width - 16) option.grid.top = 60;
    return option;
  }

  function counts(rows, label) {
    return {names: rows.map(function (r) { return label(r.key); }), keys: rows.map(function (r) { return r.key; }),
            values: rows.map(function (r) { return r.count; })};
  }

  function horizontal(rows, label, color) {
    var c = counts(rows, label);
    return {keys: c.keys, option: base({
      legend: {show: false}, grid: {left: 8, right: 24, top: 8, bottom: 8, containLabel: true},
      xAxis: {type: 'value', minInterval: 1},
      yAxis: {type: 'category', data: c.names, inverse: true, axisLabel: {width: 120, overflow: 'break'}},
      series: [{type: 'bar', name: word('Tickets'), data: c.values, itemStyle: {color: color}, barMaxWidth: 28,
                label: {show: true, position: 'right'}}]
    })};
  }

  var DRAW = {
    by_status: function (d) { return horizontal(d.open.by_status, word, COLORS.now); },
    by_category: function (d) {
      var c = counts(d.open.by_category, word);
      return {keys: c.keys, option: base({
        tooltip: {trigger: 'item', confine: true}, legend: {bottom: 0, type: 'scroll'},
        series: [{type: 'pie', name: word('Tickets'), radius: ['38%', '68%'], center: ['50%', '45%'],
                  label: {position: 'inside', formatter: '{c}', color: '#fff', fontWeight: 'bold'},
                  data: c.names.map(function (name, i) { return {name: name, value: c.values[i]}; })}]
      })};
    },
    by_severity: function (d) {
      var rows = d.open.by_severity.slice().sort(function (a, b) { return Number(a.key) - Number(b.key); });
      var tone = [COLORS.bad, COLORS.warn, COLORS.grey];
      var c = counts(rows, function (key) { return word('severity_' + key); });
      return {keys: c.keys, option: base({
        legend: {show: false}, grid: {left: 8, right: 16, top: 28, bottom: 8, containLabel: true},
        xAxis: {type: 'category', data: c.names}, yAxis: {type: 'value', minInterval: 1},
        series: [{type: 'bar', name: word('Tickets'), barMaxWidth: 48, label: {show: true, position: 'top'},
                  data: rows.map(function (r, i) {
                    return {value: c.values[i], itemStyle: {color: tone[Math.min(Number(r.key), 3) - 1] || COLORS.grey}};
                  })}]
      })};
    },
    sla: function (d) {
      var metrics = ['triage', 'response', 'resolve', 'callback'];
      function rates(month) { return metrics.map(function (m) { return percent(d.sla[month][m].rate); }); }
      return {keys: metrics, option: base({
        tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}, confine: true, valueFormatter: function (v) {
          return v === null || v === undefined ? '—' : v + ' %'; }},
        xAxis: {type: 'category', data: metrics.map(function (m) { return word('metric_' + m); }), axisLabel: {interval: 0}},
        yAxis: {type: 'value', min: 0, max: 100, axisLabel: {formatter: '{value} %'}},
        series: [
          {type: 'bar', name: word('This month') + ' ' + d.month, data: rates('this_month'), itemStyle: {color: COLORS.now}},
          {type: 'bar', name: word('Last month') + ' ' + d.previous_month, data: rates('last_month'), itemStyle: {color: COLORS.last}}]
      })};
    },
    times: function (d) {
      var cells = [['response', 'mean_hours'], ['response', 'p90_hours'], ['resolve', 'mean_hours'], ['resolve', 'p90_hours']];
      function values(month) { return cells.map(function (c) { return round(d.times[month][c[0]][c[1]]); }); }
      var names = cells.map(function (c) {
        return word(c[0] === 'response' ? 'Response' : 'Resolution') + '\n' + word(c[1] === 'mean_hours' ? 'Mean' : '90th percentile');
      });
      return {keys: [], option: base({
        xAxis: {type: 'category', data: names, axisLabel: {interval: 0}},
        yAxis: {type: 'value', axisLabel: {formatter: '{value} h'}},
        series: [
          {type: 'bar', name: word('This month') + ' ' + d.month, data: values('this_month'), itemStyle: {color: COLORS.now}},
          {type: 'bar', name: word('Last month') + ' ' + d.previous_month, data: values('last_month'), itemStyle: {color: COLORS.last}}]
      })};
    },
    workload: function (d) {
      var rows = d.workload;
      return {keys: rows.map(function (w) { return w.user; }), height: 110 + 44 * rows.length, option: base({
        grid: {left: 8, right: 16, top: 36, bottom: 8, containLabel: true},
        xAxis: {type: 'value', minInterval: 1},
        yAxis: {type: 'category', inverse: true, data: rows.map(function (w) { return w.user; })},
        series: [
          {type: 'bar', stack: 'tasks', name: word('Open tasks, not overdue'), itemStyle: {color: COLORS.now}, barMaxWidth: 24,
           data: rows.map(function (w) { return Math.max(0, w.open_tasks - w.overdue); })},
          {type: 'bar', stack: 'tasks', name: word('Overdue'), itemStyle: {color: COLORS.bad}, barMaxWidth: 24,
           data: rows.map(function (w) { return w.overdue; })}]
      })};
    },
    satisfaction: function (d) {
      var now = d.satisfaction.this_month, last = d.satisfaction.last_month;
      var names = [word('Share of 4–5 scores'), word('Quarterly survey score')];
      return {keys: [], option: base({
        xAxis: {type: 'category', data: names, axisLabel: {interval: 0, width: 140, overflow: 'break'}},
        yAxis: {type: 'value', min: 0, max: 100},
        series: [
          {type: 'bar', name: word('This month') + ' ' + d.month, itemStyle: {color: COLORS.now},
           data: [percent(now.share_4_5), round(now.survey_score_100)]},
          {type: 'bar', name: word('Last month') + ' ' + d.previous_month, itemStyle: {color: COLORS.last},
           data: [percent(last.share_4_5), round(last.survey_score_100)]},
          {type: 'scatter', name: word('Target'), symbol: 'rect', symbolSize: [56, 3], itemStyle: {color: COLORS.target},
           data: [Math.round(now.target_share * 100), now.target_survey], z: 5}]
      })};
    }
  };

  function draw(data) {
    var empty = true;
    root.querySelectorAll('.chart[data-chart]').forEach(function (el) {
      var make = DRAW[el.dataset.chart];
      if (!make) return;
      var made = make(data);
      el.hidden = false;
      if (made.height) el.style.height = made.height + 'px';
      var chart = window.echarts.init(el, null, {renderer: 'canvas', locale: document.documentElement.lang === 'en' ? 'EN' : 'ZH'});
      chart.setOption(roomForLegend(made.option, el.clientWidth));
      chart.on('click', function (params) {
        var key = made.keys.length ? made.keys[params.dataIndex] : null;
        var url = key === null || key === undefined ? el.dataset.link : linkFor(el, key);
        if (url) window.location.assign(url);
      });
      charts.push(chart);
      empty = false;
    });
    if (!empty) root.classList.add('drawn');
  }

  fetch(root.dataset.api, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
    .then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    })
    .then(draw)
    .catch(function () { if (status) status.textContent = word('The charts could not be drawn; the figures below are current.'); });

  var pending = null;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 120);
  });
})();
