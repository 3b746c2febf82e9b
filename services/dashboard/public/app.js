// The dashboard page: polls /api/report and draws each figure with ECharts (served from node_modules).
// Each chart element carries data-state (loading | data | empty | error) and data-points (values
// drawn) so that a person sees "no data yet" instead of an empty frame and tests can check them.
/* global echarts */
'use strict';

const REFRESH_MS = Number(document.querySelector('meta[name="grip-refresh-ms"]').content) || 5000;
const charts = {};
let refreshes = 0;

const pct = (x, digits = 1) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(digits)}%`);
const fix = (x, digits = 2) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(digits));
const PAPER_COLOR = '#c2410c';
const BASE = { animation: false, grid: { left: 60, right: 40, top: 70, bottom: 50 }, tooltip: { trigger: 'axis' } };

function title(text, subtext) {
  return { text, subtext, left: 10, top: 6, textStyle: { fontSize: 14 }, subtextStyle: { fontSize: 11 } };
}

function paperLine(value, label, axis = 'yAxis') {
  return {
    silent: true,
    symbol: 'none',
    lineStyle: { color: PAPER_COLOR, type: 'dashed', width: 1.5 },
    label: { formatter: label, color: PAPER_COLOR, position: axis === 'yAxis' ? 'insideEndTop' : 'end' },
    data: [{ [axis]: value }],
  };
}

function noveltyChart(r) {
  const data = r.novelty_over_time.map((p) => [p.t * 1000, p.novelty_rate]);
  return {
    points: data.length,
    title: title('Novelty rate over time', `share of combinations whose KCs never co-occurred in a seed; overall ${pct(r.novelty_rate)} of ${r.combinations.total} (per ${r.bucket_seconds} s)`),
    option: {
      xAxis: { type: 'time', name: 'time (UTC)', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', min: 0, max: 1, name: 'novelty rate', axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
      series: [{ name: 'novelty rate', type: 'line', data, showSymbol: data.length < 60, markLine: paperLine(r.paper.novelty_rate, 'paper 71.8%') }],
    },
  };
}

function acceptanceChart(r) {
  const rows = r.acceptance_by_relation;
  const cats = rows.map((a) => (a.relation === `${a.hop}-hop` ? a.relation : `${a.relation} (hop ${a.hop})`));
  const paper = rows.map((a, i) => (r.paper.mean_score_by_hop[a.hop] === undefined ? null : [cats[i], r.paper.mean_score_by_hop[a.hop]])).filter(Boolean);
  return {
    points: rows.length,
    title: title('Acceptance rate and mean problem score by relation and hop', `judge config ${r.judge_config_version ?? 'n/a'}; ◆ paper mean score (1-hop 0.94, 2-hop 0.72, 3-hop 0.62)`),
    option: {
      legend: { top: 40, right: 10, textStyle: { fontSize: 11 } },
      xAxis: { type: 'category', data: cats, axisLabel: { fontSize: 11, interval: 0 } },
      yAxis: { type: 'value', min: 0, max: 1, name: 'rate / score (0-1)' },
      series: [
        { name: 'acceptance rate', type: 'bar', data: rows.map((a) => a.acceptance_rate), label: { show: rows.length < 8, position: 'top', formatter: (p) => pct(p.value, 0) } },
        { name: 'mean problem score', type: 'bar', data: rows.map((a) => a.mean_score) },
        { name: 'paper mean score', type: 'scatter', symbol: 'diamond', symbolSize: 14, itemStyle: { color: PAPER_COLOR }, data: paper },
      ],
    },
  };
}

function kcCoverageChart(r) {
  const c = r.kc_coverage;
  const curve = r.kc_usage_lorenz;
  return {
    points: curve.length,
    title: title('KC coverage: how evenly accepted pairs use the KCs', `${c.kcs_used} of ${c.kcs_total} KCs used (${pct(c.share)}); Gini ${fix(c.gini)} (0 = even, 1 = a few KCs take all)`),
    option: {
      legend: { top: 40, right: 10, textStyle: { fontSize: 11 } },
      tooltip: { trigger: 'axis', valueFormatter: (v) => pct(v) },
      xAxis: { type: 'value', min: 0, max: 1, name: 'share of KCs (least used first)', nameLocation: 'middle', nameGap: 28, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
      yAxis: { type: 'value', min: 0, max: 1, name: 'share of uses', axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
      series: [
        { name: 'usage (Lorenz curve)', type: 'line', data: curve, showSymbol: false, areaStyle: { opacity: 0.15 } },
        { name: 'perfectly even', type: 'line', data: [[0, 0], [1, 1]], showSymbol: false, lineStyle: { type: 'dotted', color: '#9aa5b1' } },
      ],
    },
  };
}

function similarityChart(r) {
  const bins = r.seed_similarity_histogram || [];
  const s = r.seed_similarity;
  const total = bins.reduce((n, b) => n + b.count, 0);
  // A value x-axis (bars at bin centres) so the paper's band and ceiling sit at their exact values.
  return {
    points: total > 0 ? bins.length : 0,
    empty: s === null ? 'similarity unavailable (embeddings endpoint down)' : undefined,
    title: title('Similarity of accepted problems to their seeds', s === null ? 'unavailable' : `${s.n} problems; median ${fix(s.p50)}, max ${fix(s.max)}; shaded: paper 0.55-0.65, line: 0.9 ceiling (${r.seed_similarity_model})`),
    option: {
      tooltip: { trigger: 'axis', formatter: (ps) => `${fix(ps[0].value[0] - 0.025)}-${fix(ps[0].value[0] + 0.025)}: ${ps[0].value[1]} problems` },
      xAxis: { type: 'value', min: 0, max: 1, interval: 0.1, name: 'cosine similarity to the closest seed', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', name: 'accepted problems', minInterval: 1 },
      series: [{
        name: 'accepted problems', type: 'bar', barWidth: '95%', data: bins.map((b) => [(b.lo + b.hi) / 2, b.count]),
        markArea: { silent: true, itemStyle: { color: 'rgba(194,65,12,0.12)' }, label: { formatter: 'paper 0.55-0.65', color: PAPER_COLOR }, data: [[{ xAxis: r.paper.seed_similarity_band[0] }, { xAxis: r.paper.seed_similarity_band[1] }]] },
        markLine: paperLine(r.paper.seed_similarity_ceiling, '0.9 ceiling', 'xAxis'),
      }],
    },
  };
}

function contaminationChart(r) {
  const table = r.contamination || {};
  const names = Object.keys(table);
  const ns = ['8', '10', '13'];
  const judge = r.contamination_judge;
  const cats = [...names, 'judge record'];
  const hasAccepted = judge.accepted > 0;
  return {
    points: hasAccepted ? cats.length * ns.length : 0,
    title: title('Contamination: accepted problems with an n-gram overlap', 'per benchmark test set; paper (MATH test): 1.94% at 8, 0.63% at 10, 0.06% at 13 grams'),
    option: {
      legend: { top: 40, right: 10, textStyle: { fontSize: 11 } },
      tooltip: { trigger: 'axis', valueFormatter: (v) => pct(v, 2) },
      xAxis: { type: 'category', data: cats },
      yAxis: { type: 'value', min: 0, name: 'share of accepted', axisLabel: { formatter: (v) => `${(v * 100).toFixed(1)}%` } },
      series: ns.map((n) => ({ name: `${n}-gram`, type: 'bar', data: [...names.map((b) => table[b][n] ?? 0), judge.by_n[n] ?? 0] })),
    },
  };
}

function throughputChart(r) {
  const data = r.throughput.map((p) => [p.t * 1000, p.accepted_per_minute]);
  const judged = r.throughput.map((p) => [p.t * 1000, (p.judged * 60) / r.bucket_seconds]);
  return {
    points: data.length,
    title: title('Throughput: accepted pairs per minute', `overall ${fix(r.accepted_per_minute)} per minute (per ${r.bucket_seconds} s bucket)`),
    option: {
      legend: { top: 40, right: 10, textStyle: { fontSize: 11 } },
      xAxis: { type: 'time', name: 'time (UTC)', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', name: 'per minute' },
      series: [
        { name: 'accepted / min', type: 'bar', data },
        { name: 'judged / min', type: 'line', data: judged, showSymbol: false },
      ],
    },
  };
}

function costChart(r) {
  const values = [r.calls_per_accepted, r.tokens_per_accepted];
  return {
    points: values.filter((v) => v !== null).length,
    title: title('Cost per accepted pair', `${r.llm.calls} LLM calls, ${r.llm.tokens} tokens in all; judge calls saved by early exit: ${r.calls_saved_early_exit}`),
    option: {
      tooltip: { trigger: 'item' },
      xAxis: { type: 'category', data: ['LLM calls per accepted pair', 'tokens per accepted pair'] },
      yAxis: [{ type: 'value', name: 'calls' }, { type: 'value', name: 'tokens' }],
      series: [
        { name: 'calls', type: 'bar', yAxisIndex: 0, data: [r.calls_per_accepted, null], label: { show: true, position: 'top', formatter: (p) => fix(p.value, 1) } },
        { name: 'tokens', type: 'bar', yAxisIndex: 1, data: [null, r.tokens_per_accepted], label: { show: true, position: 'top', formatter: (p) => fix(p.value, 0) } },
      ],
    },
  };
}

function dlqChart(r) {
  const stages = Object.keys(r.dlq_by_stage);
  return {
    points: stages.length,
    empty: 'no dead letters yet',
    title: title('Dead letters per stage', 'records a stage could not process; label: DLQ rate (dead letters / (dead letters + rows produced))'),
    option: {
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: stages },
      yAxis: { type: 'value', name: 'records', minInterval: 1 },
      series: [{ name: 'dead letters', type: 'bar', data: stages.map((s) => r.dlq_by_stage[s]), label: { show: true, position: 'top', formatter: (p) => pct(r.dlq_rate_by_stage[stages[p.dataIndex]]) } }],
    },
  };
}

function checksChart(r) {
  const checks = r.answer_checks;
  const gates = Object.keys(checks.rejected_by_gate);
  const rejected = gates.reduce((s, g) => s + checks.rejected_by_gate[g], 0);
  const sc = checks.self_consistency;
  return {
    points: rejected + sc.checked,
    title: title(
      'Quality gates and answer checks',
      `pairs rejected before judging per gate; self-consistency: ${sc.agreed} of ${sc.checked} agreed (${pct(sc.agreement_rate)}); judge calls saved: ${checks.judge_calls_saved_by_checks}`,
    ),
    option: {
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: [...gates, 'self-consistency'] },
      yAxis: { type: 'value', name: 'pairs rejected', minInterval: 1 },
      series: [{ name: 'rejected', type: 'bar', data: [...gates.map((g) => checks.rejected_by_gate[g]), sc.checked - sc.agreed], label: { show: true, position: 'top' } }],
    },
  };
}

const TITLES = {
  novelty: 'Novelty rate over time',
  acceptance: 'Acceptance rate and mean problem score by relation and hop',
  'kc-coverage': 'KC coverage: how evenly accepted pairs use the KCs',
  similarity: 'Similarity of accepted problems to their seeds',
  contamination: 'Contamination: accepted problems with an n-gram overlap',
  throughput: 'Throughput: accepted pairs per minute',
  cost: 'Cost per accepted pair',
  dlq: 'Dead letters per stage',
  checks: 'Quality gates and answer checks',
};

const BUILDERS = {
  novelty: noveltyChart,
  acceptance: acceptanceChart,
  'kc-coverage': kcCoverageChart,
  similarity: similarityChart,
  contamination: contaminationChart,
  throughput: throughputChart,
  cost: costChart,
  dlq: dlqChart,
  checks: checksChart,
};

function chartOf(el) {
  const key = el.dataset.chart;
  charts[key] ??= echarts.init(el, null, { renderer: 'canvas' });
  return charts[key];
}

function showEmpty(el, titleOption, text, state) {
  chartOf(el).setOption({ animation: false, title: titleOption, graphic: [{ type: 'text', left: 'center', top: 'middle', style: { text, fontSize: 16, fill: '#7b8794' } }] }, true);
  el.dataset.state = state;
  el.dataset.points = '0';
  el.dataset.message = text;
}

function draw(report) {
  for (const el of document.querySelectorAll('.chart')) {
    const key = el.dataset.chart;
    let built;
    try {
      built = BUILDERS[key](report);
    } catch (error) {
      showEmpty(el, title(TITLES[key]), `could not draw: ${error.message}`, 'error');
      continue;
    }
    if (!built.points) {
      showEmpty(el, built.title, built.empty || 'no data yet', 'empty');
      continue;
    }
    chartOf(el).setOption({ ...BASE, ...built.option, title: built.title }, true);
    el.dataset.state = 'data';
    el.dataset.points = String(built.points);
    delete el.dataset.message;
  }
}

function tile(label, value, ref) {
  return `<div class="tile"><div class="label">${label}</div><div class="value">${value}</div>${ref ? `<div class="ref">${ref}</div>` : ''}</div>`;
}

function drawTiles(r) {
  const s = r.seed_similarity;
  document.getElementById('tiles').innerHTML = [
    tile('Novelty rate', pct(r.novelty_rate), 'paper 71.8%'),
    tile('Combinations', r.combinations.total),
    tile('Accepted / judged', `${r.accepted} / ${r.verdicts}`, `acceptance ${pct(r.acceptance_rate)}`),
    tile('KC coverage', pct(r.kc_coverage.share), `Gini ${fix(r.kc_coverage.gini)}`),
    tile('Similarity to seed (median)', s ? fix(s.p50) : 'n/a', 'paper 0.55-0.65'),
    tile('Accepted per minute', fix(r.accepted_per_minute)),
    tile('LLM calls per accepted', fix(r.calls_per_accepted, 1), `${fix(r.tokens_per_accepted, 0)} tokens`),
    tile('Calls saved by early exit', r.calls_saved_early_exit),
  ].join('');
}

function setBanner(text) {
  const banner = document.getElementById('banner');
  banner.hidden = !text;
  banner.textContent = text || '';
}

function setWarnings(list) {
  const box = document.getElementById('warnings');
  box.hidden = list.length === 0;
  box.innerHTML = list.length ? `Warnings:<ul>${list.map((w) => `<li>${w.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c])}</li>`).join('')}</ul>` : '';
}

async function refresh() {
  let body;
  try {
    const response = await fetch('/api/report', { cache: 'no-store' });
    body = await response.json();
  } catch (error) {
    body = { status: 'error', error: `dashboard server unreachable: ${error.message}` };
  }
  refreshes++;
  document.body.dataset.refreshes = String(refreshes);
  const at = new Date().toISOString().slice(11, 19);
  if (body.status === 'ok') {
    setBanner('');
    setWarnings(body.report.warnings || []);
    drawTiles(body.report);
    draw(body.report);
    document.body.dataset.status = 'ok';
    document.getElementById('meta').textContent = `database ${body.report.database}; judge config ${body.report.judge_config_version ?? 'n/a'}; updated ${at} UTC; refreshing every ${REFRESH_MS / 1000} s`;
  } else {
    setBanner(body.error || 'report failed');
    document.body.dataset.status = 'error';
    document.getElementById('meta').textContent = `last attempt ${at} UTC; retrying every ${REFRESH_MS / 1000} s`;
    for (const el of document.querySelectorAll('.chart')) if (el.dataset.state === 'loading') showEmpty(el, title(TITLES[el.dataset.chart]), 'waiting for data', 'error');
  }
}

window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
(async function loop() {
  await refresh();
  setTimeout(loop, REFRESH_MS);
})();
