// The assessment office's results page: a sortable districts table and two ECharts charts, drawn
// from the JSON the server embedded in the page (the same rows as scores.csv). No inline scripts.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("results-i18n").textContent);
  const DATA = JSON.parse($("results-data").textContent);
  const RATES = ["RR1", "COOP1", "REF1", "CON1"];
  const SCORE_KEYS = ["rank", "score", "component", "ci95_low", "ci95_high"];
  const keys = ["order", "district"]
    .concat(DATA.sealed ? [] : SCORE_KEYS)
    .concat(["valid", "invalid"])
    .concat(DATA.sealed ? [] : DATA.dimensions)
    .concat(RATES);
  const TEXT = new Set(["district"]);
  const TWO = new Set(["score", "component", "ci95_low", "ci95_high"].concat(DATA.dimensions));
  const PERCENT = new Set(RATES);

  function shown(key, value) {
    if (value === null || value === undefined) return "–";
    if (TWO.has(key)) return Number(value).toFixed(2);
    if (PERCENT.has(key)) return (100 * Number(value)).toFixed(1) + "%";
    return String(value);
  }

  let rows = DATA.rows.slice();
  let sortKey = "order";
  let ascending = true;

  function compare(a, b) {
    const x = a[sortKey], y = b[sortKey];
    const missingX = x === null || x === undefined, missingY = y === null || y === undefined;
    if (missingX || missingY) return missingX === missingY ? a.order - b.order : missingX ? 1 : -1;
    const c = typeof x === "string" ? x.localeCompare(y, "zh-CN") : x - y;
    return (ascending ? c : -c) || a.order - b.order;
  }

  function drawTable() {
    const table = $("scores-table");
    const head = document.createElement("tr");
    for (const key of keys) {
      const th = document.createElement("th");
      th.textContent = DATA.columns[key] || key;
      th.dataset.key = key;
      th.scope = "col";
      if (TEXT.has(key)) th.className = "text";
      if (key === sortKey) th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      th.addEventListener("click", () => {
        ascending = sortKey === key ? !ascending : key !== "score" && !PERCENT.has(key) && !DATA.dimensions.includes(key);
        sortKey = key;
        rows.sort(compare);
        drawTable();
      });
      head.appendChild(th);
    }
    table.tHead.replaceChildren(head);
    const body = document.createDocumentFragment();
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = keys.length;
      td.className = "text";
      td.textContent = T["results.empty"];
      tr.appendChild(td);
      body.appendChild(tr);
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.code = row.district_code;
      for (const key of keys) {
        const td = document.createElement("td");
        td.textContent = shown(key, row[key]);
        td.dataset.key = key;
        if (TEXT.has(key)) td.className = "text";
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.tBodies[0].replaceChildren(body);
  }

  $("official-order").addEventListener("click", () => {
    sortKey = "order";
    ascending = true;
    rows.sort(compare);
    drawTable();
  });

  function drawCharts() {
    if (DATA.sealed || typeof echarts === "undefined") return;
    const scored = DATA.rows.filter((r) => r.score !== null && r.score !== undefined);
    const names = scored.map((r) => r.district);
    const scoresChart = echarts.init($("chart-scores"));
    scoresChart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 30, bottom: 60 },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", min: (v) => Math.max(0, Math.floor((v.min - 5) / 10) * 10),
               max: (v) => Math.max(100, Math.ceil(v.max / 10) * 10), interval: 10 },
      series: [
        { name: DATA.columns.score, type: "bar", data: scored.map((r) => r.score),
          itemStyle: { color: "#b4232a" },
          label: { show: true, position: "insideTop", color: "#fff",
                   formatter: (p) => Number(p.value).toFixed(2) } },
        { name: T["results.chart.interval"], type: "custom",
          data: scored.map((r, i) => [i, r.ci95_low, r.ci95_high]).filter((d) => d[1] !== null),
          renderItem: (params, api) => {
            const low = api.coord([api.value(0), api.value(1)]);
            const high = api.coord([api.value(0), api.value(2)]);
            const half = api.size([1, 0])[0] * 0.15;
            const style = { stroke: "#222", lineWidth: 1.5 };
            return { type: "group", children: [
              { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style },
              { type: "line", shape: { x1: low[0] - half, y1: low[1], x2: low[0] + half, y2: low[1] }, style },
              { type: "line", shape: { x1: high[0] - half, y1: high[1], x2: high[0] + half, y2: high[1] }, style },
            ] };
          },
          encode: { x: 0, y: [1, 2] }, z: 10 },
      ],
    });
    const dimChart = echarts.init($("chart-dimensions"));
    dimChart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0, left: "center", itemGap: 8 },
      grid: { left: 50, right: 20, top: 70, bottom: 60 },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: DATA.dimensions.map((key) => ({
        name: DATA.columns[key], type: "bar",
        data: scored.map((r) => r[key]),
      })),
    });
    window.addEventListener("resize", () => { scoresChart.resize(); dimChart.resize(); });
    document.body.dataset.charts = "drawn";
  }

  drawTable();
  drawCharts();
})();
