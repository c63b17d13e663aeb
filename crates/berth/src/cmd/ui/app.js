// berth ui: the topology from the daemon's server-sent stream (no reload), and the check form.
"use strict";

const $ = (id) => document.getElementById(id);

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
}

function fill(tableId, rows, render) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    body.appendChild(tr);
  }
}

function flags(n) {
  const f = [];
  if (n.internal) f.push("internal");
  if (!n.icc) f.push("ICC off");
  if (!n.masquerade && n.bridge && !n.internal) f.push("no masquerade");
  return f.join(", ");
}

function options(select, names) {
  const keep = select.value;
  select.replaceChildren();
  for (const n of names) {
    const o = document.createElement("option");
    o.value = n;
    o.textContent = n;
    select.appendChild(o);
  }
  if (names.includes(keep)) select.value = keep;
}

let graphSeq = 0;

// The other hosts' containers, one row each, from their overlay endpoints (as the graph has them).
function remoteRows(cl) {
  if (!cl) return [];
  const rows = new Map();
  const add = (r, lost) => {
    const key = `${r.node}/${r.container_id}/${r.name}`;
    const host = r.hostname || r.node.slice(0, 12);
    const row = rows.get(key) || {
      name: r.name, running: !lost, endpoints: [], ports: [], network_mode: r.network,
      status: lost ? `lease expired (host ${host}, ${r.node_addr})` : `running on host ${host} (${r.node_addr})`,
    };
    row.endpoints.push({ network: r.network, ifname: "", ipv4: r.ip });
    rows.set(key, row);
  };
  for (const r of cl.remote || []) add(r, false);
  for (const r of cl.lost || []) add(r, true);
  return [...rows.values()];
}

function show(topo) {
  const cl = topo.cluster;
  const nodes = cl ? ` · cluster: ${cl.nodes.map((n) => n.addr + (n.id === cl.node ? " (this host)" : "")).join(", ")}` : "";
  $("host").textContent = `host ${topo.host.name} · ${(topo.host.addrs || []).join(", ")}${nodes}`;
  const all = topo.containers.concat(remoteRows(cl));
  fill("networks", topo.networks, (tr, n) => {
    tr.dataset.name = n.name;
    cell(tr, n.name);
    cell(tr, n.driver);
    cell(tr, (n.subnets || []).map((s) => s.subnet).join(", "));
    cell(tr, (n.subnets || []).map((s) => s.gateway).join(", "));
    cell(tr, flags(n));
  });
  fill("containers", all, (tr, c) => {
    tr.dataset.name = c.name;
    if (!c.running) tr.className = "stopped";
    cell(tr, c.name);
    cell(tr, c.status);
    cell(tr, c.endpoints.map((e) => `${e.network}: ${e.ifname} ${e.ipv4 || e.ipv6 || ""}`).join("\n") || `--network ${c.network_mode}`);
    cell(tr, c.ports.map((p) => `${p.host_ip}:${p.host_port}→${p.container_port}/${p.proto}`).join(", "));
  });
  const names = [...new Set(all.map((c) => c.name))].concat(["host", "outside"]);
  options($("src"), names);
  options($("dst"), names);
  const seq = ++graphSeq;
  fetch("/api/graph.svg").then((r) => r.text()).then((svg) => {
    if (seq === graphSeq) $("graph").innerHTML = svg;
  }).catch(() => {});
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("topology", (ev) => {
    $("live").textContent = "live · updated " + new Date().toLocaleTimeString();
    show(JSON.parse(ev.data));
  });
  es.onerror = () => { $("live").textContent = "reconnecting…"; };
}

function describe(r) {
  const lines = [];
  if (r.reason) lines.push("blocked by: " + r.reason);
  if (r.hint) lines.push("hint: " + r.hint);
  for (const h of r.path || []) lines.push(`  ${h.kind.padEnd(10)} ${h.name}${h.detail ? "  (" + h.detail + ")" : ""}`);
  for (const n of r.notes || []) lines.push("note: " + n);
  const k = r.kernel || {};
  if (k.checked) {
    lines.push(k.agrees ? "kernel: agrees" : `DISAGREEMENT: the kernel's state makes it ${k.reachable ? "reachable" : "unreachable (" + k.code + ")"}`);
  }
  for (const d of k.differences || []) lines.push("  differs: " + d);
  if (r.probe) lines.push(`probe: ${r.probe.method} ${r.probe.target} → ${r.probe.outcome}`);
  return lines.join("\n");
}

$("check-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({ src: $("src").value, dst: $("dst").value });
  if ($("port").value.trim()) q.set("port", $("port").value.trim());
  if ($("probe").checked) q.set("probe", "1");
  const res = await fetch("/api/check?" + q.toString());
  const body = await res.json();
  const box = $("result");
  box.hidden = false;
  if (!res.ok) {
    box.className = "blocked";
    $("verdict").textContent = "error";
    $("verdict-code").textContent = String(res.status);
    $("verdict-detail").textContent = body.message || "";
    return;
  }
  box.className = body.reachable ? "ok" : "blocked";
  $("verdict").textContent = body.reachable ? "reachable" : "unreachable";
  $("verdict-code").textContent = body.code || "";
  $("verdict-detail").textContent = describe(body);
});

connect();
