// The shop dashboard: every number on the page comes from the service's JSON endpoints.
"use strict";

const COLORS = { avg: "#3366cc", p50: "#2a9d8f", p95: "#e76f51", top: "#6d597a" };
const charts = {};

async function getJson(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) {
    const where = body.field ? `${body.field}: ` : "";
    throw new Error(`${response.status} ${where}${body.message || body.error}`);
  }
  return body;
}

const turns = {};

// Fetch for a section; null when a newer request of the same section overtook this one,
// so a slow stale answer never overwrites a newer one. `data-busy` tells when the newest is in.
async function ask(section, path, options) {
  const turn = (turns[section.id] = (turns[section.id] || 0) + 1);
  section.dataset.busy = "true";
  try {
    const body = await getJson(path, options);
    return turn === turns[section.id] ? body : null;
  } catch (error) {
    if (turn !== turns[section.id]) return null;
    throw error;
  } finally {
    if (turn === turns[section.id]) section.dataset.busy = "false";
  }
}

function query(path, params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) search.set(name, value);
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

function ms(value) {
  return value === null || value === undefined ? "–" : value.toFixed(1);
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showError(section, error) {
  const box = section.querySelector(".error");
  box.hidden = !error;
  box.textContent = error ? error.message : "";
}

// Draw (or redraw) a chart in `canvasId`; the chart object stays reachable via Chart.getChart.
function draw(canvasId, type, labels, datasets, options = {}) {
  if (charts[canvasId]) charts[canvasId].destroy();
  charts[canvasId] = new Chart(document.getElementById(canvasId), {
    type,
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      ...options,
    },
  });
  return charts[canvasId];
}

function markLoaded(section) {
  section.dataset.loaded = String(Number(section.dataset.loaded || 0) + 1);
}

async function showReadiness() {
  const status = document.getElementById("readiness");
  const answer = await fetch("/readyz").then((r) => r.json()).catch(() => ({ status: "unavailable", reason: "no answer" }));
  status.textContent = answer.status === "ok" ? "database ready" : `database: ${answer.reason}`;
  status.className = `status ${answer.status === "ok" ? "ok" : "down"}`;
}

async function showPageTypes() {
  const section = document.getElementById("page-types");
  const { groups } = await getJson("/stats/page-times?by=page_type");
  const labels = groups.map((g) => g.page_type);
  draw("page-types-chart", "bar", labels, [
    { label: "avg ms", data: groups.map((g) => g.avg), backgroundColor: COLORS.avg },
    { label: "p95 ms", data: groups.map((g) => g.p95), backgroundColor: COLORS.p95 },
  ], {
    scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } },
    plugins: { tooltip: { callbacks: { footer: (items) => `${groups[items[0].dataIndex].count} views` } } },
  });
  const body = section.querySelector("tbody");
  body.replaceChildren();
  for (const g of groups) {
    const row = body.insertRow();
    row.dataset.pageType = g.page_type;
    cell(row, g.page_type);
    cell(row, g.count, "count");
    cell(row, ms(g.avg), "avg");
    cell(row, ms(g.p50), "p50");
    cell(row, ms(g.p95), "p95");
    cell(row, ms(g.p99), "p99");
  }
  markLoaded(section);
  return groups;
}

async function showOverTime() {
  const section = document.getElementById("over-time");
  const form = section.querySelector("form");
  const params = Object.fromEntries(new FormData(form));
  try {
    const answer = await ask(section, query("/stats/page-times", params));
    if (!answer) return;
    showError(section, null);
    const { groups } = answer;
    const labels = groups.map((g) => (params.by === "hour" ? g.hour : g.day));
    draw("over-time-chart", "line", labels, [
      { label: "p50 ms", data: groups.map((g) => g.p50), borderColor: COLORS.p50, backgroundColor: COLORS.p50 },
      { label: "p95 ms", data: groups.map((g) => g.p95), borderColor: COLORS.p95, backgroundColor: COLORS.p95 },
    ], { scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } });
  } catch (error) {
    showError(section, error);
  }
  markLoaded(section);
}

// Fill the page-type list and the date range from the data, then draw the first page type.
async function setUpOverTime(pageTypes) {
  const section = document.getElementById("over-time");
  const form = section.querySelector("form");
  form.page_type.replaceChildren(...pageTypes.map((name) => new Option(name, name)));
  const { groups } = await getJson("/stats/page-times?by=day&percentiles=false");
  const days = groups.map((g) => g.day).sort();
  if (days.length) {
    form.from.value = days[0];
    form.to.value = days[days.length - 1];
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showOverTime();
  });
  form.by.addEventListener("change", showOverTime);
  form.page_type.addEventListener("change", showOverTime);
  if (pageTypes.length) await showOverTime();
  else markLoaded(section);
}

async function showTopProducts() {
  const section = document.getElementById("top-products");
  const params = Object.fromEntries(new FormData(section.querySelector("form")));
  try {
    const answer = await ask(section, query("/products/popular", { ...params, limit: 10 }));
    if (!answer) return;
    showError(section, null);
    const { results } = answer;
    draw("top-products-chart", "bar", results.map((r) => r.item_id), [
      { label: params.by, data: results.map((r) => r.count), backgroundColor: COLORS.top },
    ], { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });
  } catch (error) {
    showError(section, error);
  }
  markLoaded(section);
}

async function explore() {
  const section = document.getElementById("explorer");
  const form = section.querySelector("form");
  const { mode, ids, score } = Object.fromEntries(new FormData(form));
  const list = ids.split(",").map((id) => id.trim()).filter(Boolean);
  const body = section.querySelector("tbody");
  try {
    let answer;
    if (mode === "cart") {
      answer = await ask(section, query("/recommendations/cart", { score }), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ items: list }),
      });
    } else {
      const path = mode === "user" ? "users" : "items";
      answer = await ask(section, query(`/recommendations/${path}/${encodeURIComponent(list[0] || "")}`, { score }));
    }
    if (!answer) return;
    showError(section, null);
    body.replaceChildren();
    const seeds = answer.seeds.length ? answer.seeds.join(", ") : "nothing";
    document.getElementById("explorer-summary").textContent =
      `${answer.results.length} results for ${seeds}, scored by ${answer.score}`;
    answer.results.forEach((r, index) => {
      const row = body.insertRow();
      row.dataset.item = r.item_id;
      cell(row, index + 1);
      cell(row, r.item_id, "item");
      cell(row, r.score === null ? "–" : r.score.toFixed(4), "score");
      cell(row, r.support, "support");
      cell(row, r.because.join(", "), "because");
      cell(row, r.source, "source");
    });
  } catch (error) {
    body.replaceChildren();
    document.getElementById("explorer-summary").textContent = "";
    showError(section, error);
  }
  markLoaded(section);
}

function withInterval(value, [low, high]) {
  return `${value.toFixed(3)} (${low.toFixed(3)}–${high.toFixed(3)})`;
}

async function showTuning() {
  const section = document.getElementById("tuning");
  try {
    const answer = await ask(section, "/recommendations/tuning");
    if (!answer) return;
    showError(section, answer.refused ? new Error(`stored tuning refused: ${answer.refused}`) : null);
    const settings = section.querySelector("#tuning-settings tbody");
    settings.replaceChildren();
    for (const [name, value] of Object.entries(answer.settings)) {
      const row = settings.insertRow();
      row.dataset.setting = name;
      cell(row, name);
      cell(row, value === null ? "none" : String(value), "value");
      cell(row, answer.sources[name], "source");
    }
    const report = answer.report;
    const table = section.querySelector("#tuning-table tbody");
    table.replaceChildren();
    document.getElementById("tuning-summary").textContent = report
      ? `tuned ${report.tuned_at} on ${report.orders} orders: ${report.asked_users} of ${report.returning_users} ` +
        `returning users asked${report.sampled ? " (a sample)" : ""}, ${report.cold_start_users} cold start`
      : "no tuning stored yet: run couchrec tune";
    for (const row of report ? report.table : []) {
      const tr = table.insertRow();
      cell(tr, row.ranking, "ranking");
      cell(tr, withInterval(row.hit_rate, row.hit_rate_ci), "hit-rate");
      cell(tr, withInterval(row.mrr, row.mrr_ci), "mrr");
    }
  } catch (error) {
    showError(section, error);
  }
  markLoaded(section);
}

function setUpExplorer() {
  const form = document.querySelector("#explorer-form");
  const { scores, default: chosen } = JSON.parse(document.getElementById("scores").textContent);
  form.score.replaceChildren(...scores.map((name) => new Option(name, name, name === chosen, name === chosen)));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    explore();
  });
  form.score.addEventListener("change", () => form.ids.value && explore());
}

async function start() {
  showReadiness();
  setUpExplorer();
  const form = document.querySelector("#top-products-form");
  form.addEventListener("change", showTopProducts);
  const topProducts = showTopProducts();
  document.querySelector("#tuning-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showTuning();
  });
  const tuning = showTuning();
  try {
    const groups = await showPageTypes();
    await setUpOverTime(groups.map((g) => g.page_type));
  } catch (error) {
    showError(document.getElementById("over-time"), error);
    document.querySelector("#page-types .hint").textContent = error.message;
  }
  await topProducts;
  await tuning;
  document.body.dataset.ready = "true";
}

window.addEventListener("DOMContentLoaded", start);
