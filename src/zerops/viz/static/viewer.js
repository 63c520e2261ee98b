(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("zerops-data").textContent);
  function decode(text, Type) {
    var bin = atob(text), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  var xyz = decode(D.xyz, Float32Array), n = xyz.length / 3;
  var modes = {}, order = [];
  Object.keys(D.modes).forEach(function (k) {
    var m = D.modes[k];
    modes[k] = {title: m.title, labels: decode(m.labels, Int32Array), entries: m.entries,
                unassigned: m.unassigned, hidden: new Uint8Array(m.entries.length), hideNone: false};
    order.push(k);
  });
  var state = {mode: order[0], azim: 35, elev: 20, zoom: 1, panX: 0, panY: 0, size: 2, hot: -2};
  var canvas = document.getElementById("view"), ctx = canvas.getContext("2d");
  var tip = document.getElementById("tip"), legend = document.getElementById("legend");
  var density = Math.max(1, Math.min(4, 0.6 * Math.sqrt(200000 / Math.max(1, n))));   // sparse clouds: bigger dots
  var W = 0, H = 0, dpr = 1, image = null, pix = null, zbuf = null, ibuf = null, queued = false;

  function fmt(v) { return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  document.getElementById("info").textContent = fmt(D.points_total) + " points" +
    (D.points_shown < D.points_total ? " (" + fmt(D.points_shown) + " shown)" : "") + ", " +
    modes.part.entries.length + " parts" + (D.source ? " \u00b7 " + D.source : "");

  // ---------------------------------------------------------------- color modes and legend
  var modeBox = document.getElementById("modes");
  var modeNames = {part: "part", semantic: "class", instance: "instance"};
  order.forEach(function (k) {
    var lab = document.createElement("label"), input = document.createElement("input");
    input.type = "radio"; input.name = "mode"; input.value = k; input.id = "mode-" + k;
    input.checked = k === state.mode;
    input.addEventListener("change", function () { if (input.checked) { state.mode = k; buildLegend(); redraw(); } });
    lab.appendChild(input); lab.appendChild(document.createTextNode(" " + modeNames[k]));
    modeBox.appendChild(lab);
  });

  function rgb(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
  function row(cls, color, name, tag, count, checked, onToggle) {
    var item = document.createElement("label"), box = document.createElement("input");
    item.className = cls; box.type = "checkbox"; box.checked = checked;
    box.addEventListener("change", function () { onToggle(!box.checked); redraw(); });
    var sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = rgb(color);
    var nm = document.createElement("span"); nm.className = "name"; nm.textContent = name; nm.title = name;
    item.appendChild(box); item.appendChild(sw); item.appendChild(nm);
    if (tag) { var tg = document.createElement("span"); tg.className = "tag"; tg.textContent = tag; item.appendChild(tg); }
    var ct = document.createElement("span"); ct.className = "count"; ct.textContent = fmt(count);
    item.appendChild(ct);
    return item;
  }
  function buildLegend() {
    var m = modes[state.mode], extra = document.getElementById("legend-extra");
    legend.textContent = ""; extra.textContent = "";
    m.entries.forEach(function (e, j) {
      var tag = e.part && e.name !== "part " + e.id ? "#" + e.id : "";
      var item = row("legend-item", e.color, e.name, tag, e.points, !m.hidden[j], function (h) { m.hidden[j] = h ? 1 : 0; });
      item.dataset.id = e.id; item.dataset.index = j; item.dataset.points = e.points;
      legend.appendChild(item);
    });
    legend.dataset.count = m.entries.length; legend.dataset.mode = state.mode;
    if (m.unassigned > 0) {
      extra.appendChild(row("legend-extra", D.gray, "unassigned", "", m.unassigned, !m.hideNone,
                            function (h) { m.hideNone = h; }));
    }
  }
  function setAll(hidden) {
    var m = modes[state.mode];
    for (var j = 0; j < m.hidden.length; j++) m.hidden[j] = hidden ? 1 : 0;
    m.hideNone = hidden; buildLegend(); redraw();
  }
  document.getElementById("show-all").addEventListener("click", function () { setAll(false); });
  document.getElementById("hide-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("size").addEventListener("input", function (ev) { state.size = +ev.target.value; redraw(); });

  // ---------------------------------------------------------------- granularity: levels of the merge tree
  var levels = (D.levels || []).map(function (L) {
    return {parts: L.parts, labels: decode(L.labels, Int32Array), entries: L.entries};
  });
  var own = {labels: modes.part.labels, entries: modes.part.entries};
  function setLevel(i) {
    var L = i === D.level_chosen ? own : levels[i];
    modes.part.labels = L.labels; modes.part.entries = L.entries;
    modes.part.hidden = new Uint8Array(L.entries.length);
    document.getElementById("level-parts").textContent = levels[i].parts + " parts";
    document.getElementById("granularity").dataset.level = i;
    if (state.mode === "part") buildLegend();
    redraw();
  }
  if (levels.length > 1) {
    var slider = document.getElementById("level");
    slider.max = levels.length - 1; slider.value = D.level_chosen;
    document.getElementById("granularity").hidden = false;
    document.getElementById("level-parts").textContent = levels[D.level_chosen].parts + " parts";
    slider.addEventListener("input", function (ev) { setLevel(+ev.target.value); });
  }

  // ---------------------------------------------------------------- rendering (orthographic, z-buffered)
  function resize() {
    dpr = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (w !== W || h !== H || !image) {
      W = canvas.width = w; H = canvas.height = h;
      image = ctx.createImageData(W, H); pix = new Uint32Array(image.data.buffer);
      zbuf = new Float32Array(W * H); ibuf = new Int32Array(W * H);
    }
  }
  function basis() {
    var e = state.elev * Math.PI / 180, a = state.azim * Math.PI / 180;
    var ce = Math.cos(e), se = Math.sin(e), ca = Math.cos(a), sa = Math.sin(a);
    // camera on (ce*sa, se, ce*ca) looking at the origin, +Y up (zerops's view convention)
    return {r: [ca, 0, -sa], u: [-se * sa, ce, -se * ca], d: [ce * sa, se, ce * ca]};
  }
  function draw() {
    queued = false;
    resize();
    var m = modes[state.mode], labels = m.labels, hidden = m.hidden, entries = m.entries;
    var B = basis(), r = B.r, u = B.u, d = B.d;
    var scale = 0.92 * state.zoom * Math.min(W, H) / 2, cx = W / 2 + state.panX * dpr, cy = H / 2 + state.panY * dpr;
    var ps = Math.max(1, Math.round(state.size * dpr * density * Math.max(1, Math.sqrt(state.zoom)) * 0.75));
    var half = ps >> 1;
    zbuf.fill(-Infinity); ibuf.fill(-1);
    for (var i = 0; i < n; i++) {
      var lab = labels[i];
      if (lab < 0 ? m.hideNone : hidden[lab]) continue;
      var x = xyz[3 * i], y = xyz[3 * i + 1], z = xyz[3 * i + 2];
      var sx = Math.round(cx + (x * r[0] + y * r[1] + z * r[2]) * scale) - half;
      var sy = Math.round(cy - (x * u[0] + y * u[1] + z * u[2]) * scale) - half;
      if (sx >= W || sy >= H || sx + ps <= 0 || sy + ps <= 0) continue;
      var depth = x * d[0] + y * d[1] + z * d[2];
      for (var py = Math.max(0, sy); py < Math.min(H, sy + ps); py++) {
        var base = py * W;
        for (var px = Math.max(0, sx); px < Math.min(W, sx + ps); px++) {
          var k = base + px;
          if (depth > zbuf[k]) { zbuf[k] = depth; ibuf[k] = i; }
        }
      }
    }
    var lut = new Uint8Array(3 * (entries.length + 1));
    for (var j = 0; j < entries.length; j++) lut.set(entries[j].color, 3 * j);
    lut.set(D.gray, 3 * entries.length);
    var bg = 0xfff6f4f3, hot = state.hot, last = entries.length;
    for (var p = 0; p < W * H; p++) {
      var idx = ibuf[p];
      if (idx < 0) { pix[p] = bg; continue; }
      var l = labels[idx], c = 3 * (l < 0 ? last : l);
      var shade = 0.62 + 0.38 * (zbuf[p] + 1) / 2;          // nearer points are brighter
      if (hot >= -1 && l !== hot) shade *= 0.55;            // a hovered legend row dims the others
      pix[p] = 0xff000000 | ((lut[c + 2] * shade) << 16) | ((lut[c + 1] * shade) << 8) | (lut[c] * shade);
    }
    ctx.putImageData(image, 0, 0);
    document.body.dataset.ready = "1";
  }
  function redraw() { if (!queued) { queued = true; window.requestAnimationFrame(draw); } }

  // ---------------------------------------------------------------- hover: the nearest drawn point
  function pick(mx, my) {
    var x0 = Math.round(mx * dpr), y0 = Math.round(my * dpr), R = Math.round(6 * dpr), best = -1, bd = Infinity;
    for (var y = Math.max(0, y0 - R); y <= Math.min(H - 1, y0 + R); y++) {
      for (var x = Math.max(0, x0 - R); x <= Math.min(W - 1, x0 + R); x++) {
        var i = ibuf[y * W + x];
        if (i < 0) continue;
        var dd = (x - x0) * (x - x0) + (y - y0) * (y - y0);
        if (dd < bd) { bd = dd; best = i; }
      }
    }
    return bd <= R * R ? best : -1;
  }
  function describe(i) {
    var m = modes[state.mode], l = m.labels[i];
    if (l < 0) return "unassigned";
    var e = m.entries[l], text = e.name;
    if (e.part && e.name !== "part " + e.id) text += " (part " + e.id + ")";
    if (state.mode !== "part") {
      var p = modes.part.labels[i];
      if (p >= 0) text += " \u00b7 part " + modes.part.entries[p].id;
    }
    return text + " \u00b7 " + fmt(e.points) + " points";
  }

  // ---------------------------------------------------------------- mouse / touch
  var drag = null;
  canvas.addEventListener("contextmenu", function (ev) { ev.preventDefault(); });
  canvas.addEventListener("pointerdown", function (ev) {
    drag = {x: ev.clientX, y: ev.clientY, pan: ev.shiftKey || ev.button === 2 || ev.button === 1};
    canvas.setPointerCapture(ev.pointerId); canvas.classList.add("dragging"); tip.hidden = true;
  });
  canvas.addEventListener("pointerup", function (ev) {
    drag = null; canvas.classList.remove("dragging");
    try { canvas.releasePointerCapture(ev.pointerId); } catch (e) { /* already released */ }
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (drag) {
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      drag.x = ev.clientX; drag.y = ev.clientY;
      if (drag.pan) { state.panX += dx; state.panY += dy; }
      else { state.azim -= dx * 0.5; state.elev = Math.max(-89, Math.min(89, state.elev + dy * 0.5)); }
      redraw(); return;
    }
    var rect = canvas.getBoundingClientRect(), mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    var i = pick(mx, my);
    if (i < 0) { tip.hidden = true; canvas.dataset.hover = ""; return; }
    tip.textContent = describe(i); canvas.dataset.hover = tip.textContent; tip.hidden = false;
    tip.style.left = Math.min(mx + 14, rect.width - tip.offsetWidth - 4) + "px";
    tip.style.top = Math.max(4, my - 28) + "px";
  });
  canvas.addEventListener("pointerleave", function () { tip.hidden = true; });
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var f = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
    var rect = canvas.getBoundingClientRect();
    var mx = ev.clientX - rect.left - rect.width / 2, my = ev.clientY - rect.top - rect.height / 2;
    var z = Math.max(0.05, Math.min(200, state.zoom * f));
    f = z / state.zoom; state.zoom = z;
    state.panX = mx - (mx - state.panX) * f; state.panY = my - (my - state.panY) * f;   // zoom about the cursor
    redraw();
  }, {passive: false});
  canvas.addEventListener("dblclick", function () {
    state.azim = 35; state.elev = 20; state.zoom = 1; state.panX = 0; state.panY = 0; redraw();
  });
  legend.addEventListener("mouseover", function (ev) {
    var item = ev.target.closest ? ev.target.closest(".legend-item") : null;
    var h = item ? +item.dataset.index : -2;
    if (h !== state.hot) { state.hot = h; redraw(); }
  });
  legend.addEventListener("mouseleave", function () { state.hot = -2; redraw(); });
  window.addEventListener("resize", redraw);

  buildLegend();
  draw();
})();
