// Live view of the loop that serves this page: reads /metrics (Prometheus text) and fills the table.
"use strict";

function parseMetrics(text) {
  const out = { services: {}, passes: null, backend: null };
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^(\w+)(?:\{([^}]*)\})?\s+(\S+)$/);
    if (!m) continue;
    const [, name, labels, value] = m;
    const lab = {};
    (labels || "").replace(/(\w+)="([^"]*)"/g, (_, k, v) => { lab[k] = v; });
    if (name === "asynchat_loop_passes_total") out.passes = value;
    else if (name === "asynchat_info") out.backend = lab.backend;
    else if (lab.service) {
      const s = out.services[lab.service] = out.services[lab.service] || {};
      s[name.replace(/^asynchat_/, "")] = value;
    }
  }
  return out;
}

function render(m) {
  const cols = ["connections_open", "connections_accepted_total", "messages_total", "errors_total",
                "bytes_received_total", "bytes_sent_total"];
  const body = document.querySelector("#services tbody");
  body.textContent = "";
  for (const [name, s] of Object.entries(m.services)) {
    const tr = document.createElement("tr");
    tr.className = "service";
    tr.dataset.service = name;
    const td = document.createElement("td");
    td.textContent = name;
    tr.appendChild(td);
    for (const c of cols) {
      const cell = document.createElement("td");
      cell.textContent = s[c] ?? "";
      tr.appendChild(cell);
    }
    body.appendChild(tr);
  }
  document.getElementById("passes").textContent = m.passes ?? "?";
  document.getElementById("backend").textContent = m.backend ?? "?";
}

async function refresh() {
  try {
    const r = await fetch("/metrics", { cache: "no-store" });
    render(parseMetrics(await r.text()));
    document.body.dataset.metrics = "ok";
  } catch (e) {
    document.body.dataset.metrics = "failed: " + e;
  }
}

// What the browser test reads: the stylesheet applied, the logo decoded, the metrics fetched.
function reportAssets() {
  const css = getComputedStyle(document.getElementById("assets")).letterSpacing !== "normal";
  const logo = document.getElementById("logo");
  const img = logo.complete && logo.naturalWidth > 0;
  document.getElementById("assets").textContent = "assets: css=" + (css ? "ok" : "missing") + " logo=" + (img ? "ok" : "missing");
}

window.addEventListener("load", () => {
  reportAssets();
  refresh();
  setInterval(refresh, 2000);
});
