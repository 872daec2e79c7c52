// Charts of the monthly service report (月度服务报告), drawn with ECharts from the figures the page carries in
// data-charts. The tables under each chart hold the same numbers, so the report reads without this script.
(function () {
  'use strict';
  if (!window.echarts) return;
  var BRAND = '#0b6bcb', PREVIOUS = '#a9b8c8', BAD = '#c62828';
  var FONT = 'system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif';

  function base(extra) {
    return Object.assign({
      animation: false,
      textStyle: {fontFamily: FONT},
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}, confine: true},
      grid: {left: 8, right: 16, top: 30, bottom: 8, containLabel: true}
    }, extra);
  }

  function categories(d) {
    return base({
      xAxis: {type: 'category', data: d.names, axisLabel: {interval: 0, width: 72, overflow: 'break'}},
      yAxis: {type: 'value', minInterval: 1},
      series: [{type: 'bar', name: d.series, data: d.values, itemStyle: {color: BRAND}, barMaxWidth: 44,
                label: {show: true, position: 'top'}}]
    });
  }

  function sla(d) {
    var percent = {show: true, position: 'top', formatter: function (p) { return Math.round(p.value) + '%'; }};
    return base({
      legend: {top: 0},
      xAxis: {type: 'category', data: d.names, axisLabel: {interval: 0}},
      yAxis: {type: 'value', min: 0, max: 100, axisLabel: {formatter: '{value}%'}},
      series: [{type: 'bar', name: d.series[0], data: d.this, itemStyle: {color: BRAND}, barMaxWidth: 32, label: percent},
               {type: 'bar', name: d.series[1], data: d.previous, itemStyle: {color: PREVIOUS}, barMaxWidth: 32,
                label: percent}]
    });
  }

  // Each bar red when under its target; each target a red mark across its own bar.
  function satisfaction(d) {
    var values = d.values.map(function (v, i) {
      return {value: v, itemStyle: {color: v !== null && v < d.targets[i] ? BAD : BRAND},
              label: v !== null && v >= 20 ? {position: 'insideRight', color: '#fff', fontWeight: 600} : {}};
    });
    return base({
      tooltip: {show: false},
      grid: {left: 8, right: 40, top: 8, bottom: 8, containLabel: true},
      xAxis: {type: 'value', min: 0, max: 100},
      yAxis: {type: 'category', data: d.names, inverse: true, axisLabel: {width: 110, overflow: 'break'}},
      series: [{type: 'bar', data: values, barWidth: 22, label: {show: true, position: 'right'}},
               {type: 'scatter', silent: true, z: 10, symbol: 'rect', symbolSize: [3, 32], itemStyle: {color: BAD},
                data: d.targets.map(function (t, i) { return [t, i]; }),
                label: {show: true, position: 'bottom', distance: 2, color: BAD, fontSize: 11,
                        formatter: function (p) { return d.target + ' ' + p.value[0]; }}}]
    });
  }

  var BUILD = {categories: categories, sla: sla, satisfaction: satisfaction};
  var charts = [];
  document.querySelectorAll('.monthly-report[data-charts]').forEach(function (root) {
    var data = JSON.parse(root.dataset.charts);
    root.querySelectorAll('[data-chart]').forEach(function (el) {
      var kind = el.dataset.chart;
      if (!BUILD[kind] || !data[kind]) return;
      var chart = window.echarts.init(el, null, {renderer: 'svg'});
      chart.setOption(BUILD[kind](data[kind]));
      charts.push(chart);
    });
  });
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
})();
