// reclaim: the spread network page. Fetches the case's network and timeline from the API, draws the graph
// with the vendored cytoscape.js and the timeline as SVG. Names come from the material (attacker data):
// they are only ever set as textContent or SVG text, never as HTML. No picture is shown in the graph; a
// cluster's details offer the server's blurred preview on a click, nothing else.
"use strict";
(function () {
  const root = document.getElementById("spread");
  if (!root) return;
  const L = root.dataset;
  const status = document.getElementById("spread-status");
  const details = document.getElementById("node-details");
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = { sender: "#c2410c", chat: "#2b59c3", cluster: "#6b7280" };
  const SHAPES = { sender: "ellipse", chat: "round-rectangle", cluster: "diamond" };
  const EDGE_LABELS = {
    posted: L.lEdgePosted, in: L.lEdgeIn, forwarded_from: L.lEdgeForwardedFrom, reply_to: L.lEdgeReplyTo,
  };
  const KIND_LABELS = { sender: L.lKindSender, chat: L.lKindChat, cluster: L.lKindCluster };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function when(iso) {
    if (!iso) return L.lUnknown;
    return iso.replace("T", " ").replace(/:\d\d(\.\d+)?(\+00:00|Z)$/, "") + " UTC";
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(String(r.status));
    return r.json();
  }

  // --- details: text only -------------------------------------------------------------------------------

  function row(dl, label, value) {
    dl.append(el("dt", label));
    const dd = el("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
    dl.append(dd);
  }

  function list(values) {
    const ul = el("ul", null, "plain");
    values.forEach((v) => ul.append(el("li", v)));
    return ul;
  }

  function safeLink(url) { // only https links become anchors; anything else stays text
    if (/^https:\/\/[^\s"<>]+$/.test(url)) {
      const a = el("a", url);
      a.href = url;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      return a;
    }
    return el("span", url);
  }

  function showDetails(node, network, links) {
    details.replaceChildren();
    const h = el("h3", node.label);
    h.id = "node-label";
    details.append(h);
    const dl = el("dl");
    dl.id = "node-facts";
    row(dl, L.lKind, KIND_LABELS[node.kind] || node.kind);
    row(dl, L.lId, node.id);
    if (node.kind !== "cluster") row(dl, L.lAliases, list(node.aliases.length ? node.aliases : [node.label]));
    row(dl, L.lFirstSeen, when(node.first_seen));
    row(dl, L.lLastSeen, when(node.last_seen));
    row(dl, L.lCount, node.count);
    row(dl, L.lPlatforms, node.platforms.join(", ") || L.lUnknown);
    const byId = new Map(network.nodes.map((n) => [n.id, n]));
    const connections = network.edges
      .filter((e) => e.source === node.id || e.target === node.id)
      .map((e) => {
        const other = byId.get(e.source === node.id ? e.target : e.source);
        const arrow = e.source === node.id ? "→" : "←";
        return `${arrow} ${EDGE_LABELS[e.kind] || e.kind}: ${other ? other.label : "?"} (${e.count})`;
      });
    if (connections.length) row(dl, L.lLinks, list(connections));
    const mine = links.get(node.id) || [];
    if (mine.length) {
      const ul = el("ul", null, "plain");
      mine.slice(0, 20).forEach((u) => { const li = el("li"); li.append(safeLink(u)); ul.append(li); });
      row(dl, L.lMessages, ul);
    }
    details.append(dl);
    const sha = node.extra && node.extra.item_sha256;
    if (node.kind === "cluster" && typeof sha === "string" && /^[0-9a-f]{64}$/.test(sha)) {
      const button = el("button", L.lShowPreview);
      button.type = "button";
      button.id = "show-preview";
      button.addEventListener("click", () => {
        const img = document.createElement("img");
        img.className = "preview";
        img.alt = L.lPreview;
        img.src = L.previewBase + sha + "/preview"; // the server-side blurred thumbnail, never the reveal route
        button.replaceWith(img);
      });
      details.append(button);
    }
  }

  // --- the graph ----------------------------------------------------------------------------------------

  function messageLinks(timeline) {
    const links = new Map();
    const add = (id, link) => {
      if (!id || !link) return;
      if (!links.has(id)) links.set(id, []);
      if (!links.get(id).includes(link)) links.get(id).push(link);
    };
    timeline.clusters.forEach((c) => c.steps.forEach((s) => {
      add(c.cluster, s.link); add(s.chat, s.link); add(s.sender, s.link);
    }));
    return links;
  }

  function drawGraph(network, timeline) {
    root.dataset.nodes = String(network.nodes.length);
    root.dataset.edges = String(network.edges.length);
    if (!network.nodes.length) { status.textContent = L.lEmpty; return null; }
    const elements = network.nodes.map((n) => ({ group: "nodes", data: { id: n.id, label: n.label, kind: n.kind } }))
      .concat(network.edges.map((e) => ({
        group: "edges", data: { id: e.id, source: e.source, target: e.target, kind: e.kind, label: EDGE_LABELS[e.kind] || e.kind },
      })));
    const cy = window.cytoscape({
      container: document.getElementById("cy"),
      elements,
      // cose (force-directed) up to 300 nodes; larger networks in rings by kind (cose grows quadratically)
      layout: network.nodes.length <= 300
        ? { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 8000 }
        : { name: "concentric", animate: false, concentric: (n) => ({ cluster: 3, sender: 2, chat: 1 })[n.data("kind")] || 0, levelWidth: () => 1 },
      hideEdgesOnViewport: network.edges.length > 2000,
      textureOnViewport: network.edges.length > 2000,
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
          label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 4, color: "#1d2330",
          "text-wrap": "ellipsis", "text-max-width": 120, width: 22, height: 22,
        } },
        ...Object.keys(COLOURS).map((k) => ({
          selector: `node[kind = "${k}"]`, style: { "background-color": COLOURS[k], shape: SHAPES[k] },
        })),
        { selector: "node:selected", style: { "border-width": 3, "border-color": "#111" } },
        { selector: "edge", style: {
          width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#9aa3b2",
          "target-arrow-color": "#9aa3b2",
        } },
        { selector: 'edge[kind = "forwarded_from"]', style: { "line-style": "dashed", "line-color": "#2b59c3", "target-arrow-color": "#2b59c3" } },
        { selector: 'edge[kind = "reply_to"]', style: { "line-style": "dotted", "line-color": "#c2410c", "target-arrow-color": "#c2410c" } },
      ],
    });
    const byId = new Map(network.nodes.map((n) => [n.id, n]));
    const links = messageLinks(timeline);
    cy.on("tap", "node", (ev) => showDetails(byId.get(ev.target.id()), network, links));
    window.reclaimCy = cy; // for tests and the console: cy.nodes().length
    status.textContent = "";
    return cy;
  }

  // --- the timeline chart (SVG, stacked bars per day) -----------------------------------------------------

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, String(v)));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  const PALETTE = ["#2b59c3", "#c2410c", "#1f7a3f", "#7c3aed", "#b45309", "#0e7490", "#be185d", "#4b5563"];

  function drawTimeline(timeline, network) {
    const chart = document.getElementById("timeline-chart");
    const legend = document.getElementById("timeline-legend");
    chart.replaceChildren();
    legend.replaceChildren();
    const series = timeline.series;
    chart.dataset.points = String(series.length);
    if (!series.length) { chart.append(el("p", L.lTimelineEmpty, "empty")); return; }
    const names = new Map(network.nodes.map((n) => [n.id, n.label]));
    const keyOf = (p) => `${p.platform}\u0000${p.chat || ""}`;
    const keys = [...new Set(series.map(keyOf))];
    const colour = new Map(keys.map((k, i) => [k, PALETTE[i % PALETTE.length]]));
    // one bar per day over up to 180 days; a longer spread gets one bar per month (nothing is dropped)
    const dates = series.map((p) => p.date).sort();
    const first = new Date(dates[0] + "T00:00:00Z");
    const last = new Date(dates[dates.length - 1] + "T00:00:00Z");
    const monthly = (last - first) / 86400000 > 180;
    const bucket = (date) => (monthly ? date.slice(0, 7) : date);
    const days = [];
    for (let d = new Date(first); d <= last; d.setUTCDate(d.getUTCDate() + 1)) {
      const b = bucket(d.toISOString().slice(0, 10));
      if (days[days.length - 1] !== b) days.push(b);
    }
    chart.dataset.buckets = monthly ? "month" : "day";
    const totals = new Map(days.map((d) => [d, 0]));
    series.forEach((p) => totals.set(bucket(p.date), (totals.get(bucket(p.date)) || 0) + p.count));
    const max = Math.max(1, ...totals.values());
    const W = 900, H = 220, left = 36, bottom = 28, top = 10;
    const bw = Math.min(60, Math.max(2, (W - left - 10) / days.length));
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    s.append(svg("title", {}, document.querySelector("#timeline-chart")?.previousElementSibling?.textContent || ""));
    const y = (v) => H - bottom - (v / max) * (H - bottom - top);
    s.append(svg("line", { x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom, stroke: "#d8dce4" }));
    s.append(svg("text", { x: left - 6, y: y(max) + 4, "text-anchor": "end" }, max));
    s.append(svg("text", { x: left - 6, y: H - bottom + 4, "text-anchor": "end" }, 0));
    const stacked = new Map(days.map((d) => [d, 0]));
    series.forEach((p) => {
      const day = bucket(p.date);
      const i = days.indexOf(day);
      if (i < 0) return;
      const below = stacked.get(day);
      const rect = svg("rect", {
        x: left + i * bw + 1, y: y(below + p.count), width: Math.max(1, bw - 2), height: y(below) - y(below + p.count),
        fill: colour.get(keyOf(p)), "data-date": p.date, "data-count": p.count,
      });
      rect.append(svg("title", {}, `${p.date} · ${p.platform} · ${p.chat ? names.get(p.chat) || p.chat : L.lNoChat}: ${p.count}`));
      s.append(rect);
      stacked.set(day, below + p.count);
    });
    const step = Math.max(1, Math.ceil(days.length / 8));
    days.forEach((d, i) => {
      if (i % step === 0) s.append(svg("text", { x: left + i * bw, y: H - 8 }, d));
    });
    chart.append(s);
    keys.forEach((k) => {
      const [platform, chat] = k.split("\u0000");
      const li = el("li");
      const sw = svg("svg", { width: 12, height: 12, "aria-hidden": "true" });
      sw.append(svg("rect", { width: 12, height: 12, fill: colour.get(k) }));
      li.append(sw, document.createTextNode(` ${platform} · ${chat ? names.get(chat) || chat : L.lNoChat}`));
      legend.append(li);
    });
  }

  (async function main() {
    try {
      const [network, timeline] = await Promise.all([getJSON(L.networkUrl), getJSON(L.timelineUrl)]);
      drawGraph(network, timeline);
      drawTimeline(timeline, network);
      root.dataset.ready = "true";
    } catch (e) {
      status.textContent = L.lFailed;
      root.dataset.ready = "failed";
    }
  })();
})();
