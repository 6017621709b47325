/* carbonmap's planning map: header, layer panel, legends, unit card, find box, unit names, and a
 * canvas tile layer that draws layers of hundreds of thousands of features in full. Written for
 * carbonmap; needs Leaflet 1.9. The page calls carbonmap.start(element, data) with the data
 * carbonmap/webmap.py writes: words in the run's language, geometries as delta-coded integers
 * (Web Mercator metres), attribute tables as columns, and one spec per layer.
 *
 * Every string from a project file or data (titles, names, labels, attribute values) is text: it
 * is set with textContent (el, below) and never parsed as HTML. */
var carbonmap = (function () {
  "use strict";
  var R = 6378137, WORLD = 2 * Math.PI * R, DEG = 180 / Math.PI;
  var data, map, legendBox, panel, highlight, units = {};
  var entries = {}, shownOrder = [], bigOnMap = [];

  /* ------------------------------------------------------------------ text and numbers */

  function el(tag, className, parent, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  /* A word of the page, its {placeholders} filled (as text). */
  function say(name, fields) {
    var text = data.words[name];
    Object.keys(fields || {}).forEach(function (key) { text = text.split("{" + key + "}").join(fields[key]); });
    return text;
  }

  /* A number as people write it (the rules of carbonmap.webmap.format_number); years plain. */
  function fmt(value, year) {
    if (value === null || value === undefined || !isFinite(value)) { return "–"; }
    if (year) { return String(Math.round(value)); }
    var size = Math.abs(value), decimals;
    if (size === 0) { return "0"; }
    if (size >= 99.5) { return value.toLocaleString("en", {maximumFractionDigits: 0}); }
    decimals = size >= 9.95 ? 1 : size >= 0.995 ? 2 : Math.min(15, 1 - Math.floor(Math.log10(size)));
    return value.toLocaleString("en", {maximumFractionDigits: decimals, useGrouping: false});
  }

  /* obj[key] when obj has it as its own (not inherited: a class named "constructor" is a class). */
  function own(obj, key) { return obj && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined; }

  function field(column) { return own(data.fields, column) || [column, "", 0]; }

  /* What a reader sees for a value of `column`: a class's name, a formatted number, or the text. */
  function shown(column, value) {
    if (value === null || value === undefined) { return "–"; }
    var name = own(own(data.values, column), String(value));
    if (name !== undefined) { return name; }
    if (typeof value === "number") { return fmt(value, field(column)[2] === 1); }
    return String(value);
  }

  function withUnit(column, value) {
    var unit = field(column)[1], text = shown(column, value);
    return unit && typeof value === "number" ? text + " " + unit : text;
  }

  /* ------------------------------------------------------------------ decoding */

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", CODE = {};
  ALPHABET.split("").forEach(function (c, i) { CODE[c.charCodeAt(0)] = i; });

  /* The integers of carbonmap.webmap.encode_integers. */
  function integers(text, n) {
    var out = new Float64Array(n), k = 0, value = 0, scale = 1, i, c;
    for (i = 0; i < text.length; i++) {
      c = CODE[text.charCodeAt(i)];
      value += (c & 31) * scale;
      if (c & 32) { scale *= 32; continue; }
      out[k++] = value % 2 === 1 ? -(value + 1) / 2 : value / 2;
      value = 0;
      scale = 1;
    }
    return out;
  }

  function cumulative(counts, from, n) {
    var out = new Int32Array(n + 1), i;
    for (i = 0; i < n; i++) { out[i + 1] = out[i] + counts[from + i]; }
    return out;
  }

  /* A geometry set: vertices (x, y in metres), and for each feature its rings (a line's parts, a
   * point's vertices) and, for polygons, its parts. */
  function geometry(key) {
    var g = data.geometries[key];
    if (g.decoded) { return g.decoded; }
    var counts = integers(g.counts[0], g.counts[1]), d = integers(g.coords[0], g.coords[1]);
    var xy = new Int32Array(d.length), x = 0, y = 0, i, n = g.n, out = {type: g.type, n: n, xy: xy};
    for (i = 0; i < d.length; i += 2) { x += d[i]; y += d[i + 1]; xy[i] = x; xy[i + 1] = y; }
    if (g.type === "polygon") {
      out.featurePart = cumulative(counts, 0, n);
      var parts = out.featurePart[n];
      out.partRing = cumulative(counts, n, parts);
      out.ringVertex = cumulative(counts, n + parts, out.partRing[parts]);
      out.featureRing = new Int32Array(n + 1);
      for (i = 0; i <= n; i++) { out.featureRing[i] = out.partRing[out.featurePart[i]]; }
    } else if (g.type === "line") {
      out.featureRing = cumulative(counts, 0, n);
      out.ringVertex = cumulative(counts, n, out.featureRing[n]);
    } else {
      out.featureRing = new Int32Array(n + 1);
      for (i = 0; i <= n; i++) { out.featureRing[i] = i; }
      out.ringVertex = cumulative(counts, 0, n);
    }
    g.decoded = out;
    return out;
  }

  function lonlat(x, y) { return [x / R * DEG, (2 * Math.atan(Math.exp(y / R)) - Math.PI / 2) * DEG]; }

  function ring(G, r, close) {
    var out = [], v;
    for (v = G.ringVertex[r]; v < G.ringVertex[r + 1]; v++) { out.push(lonlat(G.xy[2 * v], G.xy[2 * v + 1])); }
    if (close && out.length) { out.push(out[0]); }
    return out;
  }

  /* Feature i of a geometry set as GeoJSON (longitude, latitude). */
  function geojson(G, i) {
    var r, p, polygons = [], lines = [];
    if (G.type === "polygon") {
      for (p = G.featurePart[i]; p < G.featurePart[i + 1]; p++) {
        var rings = [];
        for (r = G.partRing[p]; r < G.partRing[p + 1]; r++) { rings.push(ring(G, r, true)); }
        polygons.push(rings);
      }
      return {type: "MultiPolygon", coordinates: polygons};
    }
    for (r = G.featureRing[i]; r < G.featureRing[i + 1]; r++) { lines.push(ring(G, r, false)); }
    if (G.type === "line") { return {type: "MultiLineString", coordinates: lines}; }
    if (lines[0].length === 1) { return {type: "Point", coordinates: lines[0][0]}; }
    return {type: "MultiPoint", coordinates: lines[0]};
  }

  /* Row accessor of a table column (text columns may be stored as codes of distinct values). */
  function column(tableKey, name) {
    var col = data.tables[tableKey][name];
    if (col === undefined) { return function () { return null; }; }
    if (Array.isArray(col)) { return function (i) { return col[i]; }; }
    if (!col.decoded) { col.decoded = integers(col.codes, col.n); }
    return function (i) { var k = col.decoded[i]; return k < 0 ? null : col.values[k]; };
  }

  /* The colour of each feature (null: not coloured). */
  function painter(fill, tableKey) {
    if (fill.type === "single") { return function () { return fill.colour; }; }
    var get = column(tableKey, fill.column);
    if (fill.type === "categories") {
      return function (i) {
        var v = get(i);
        return v === null ? fill.missing : own(fill.colours, String(v)) || fill.missing;
      };
    }
    return function (i) {
      var v = get(i), k = 0;
      if (v === null || v === undefined) { return fill.missing; }
      if (fill.hideZero && v === 0) { return null; }
      if (fill.centreColour && v === fill.centre) { return fill.centreColour; }
      while (k < fill.breaks.length && v >= fill.breaks[k]) { k++; }
      return fill.colours[k];
    };
  }

  /* ------------------------------------------------------------------ spatial index and hits */

  /* Feature bounding boxes and a grid of the features each cell overlaps. */
  function spatialIndex(G) {
    if (G.index) { return G.index; }
    var n = G.n, box = new Float64Array(4 * n), i, v, x, y;
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (i = 0; i < n; i++) {
      var a = Infinity, b = Infinity, c = -Infinity, d = -Infinity;
      for (v = G.ringVertex[G.featureRing[i]]; v < G.ringVertex[G.featureRing[i + 1]]; v++) {
        x = G.xy[2 * v]; y = G.xy[2 * v + 1];
        if (x < a) { a = x; } if (x > c) { c = x; } if (y < b) { b = y; } if (y > d) { d = y; }
      }
      box[4 * i] = a; box[4 * i + 1] = b; box[4 * i + 2] = c; box[4 * i + 3] = d;
      if (a < minX) { minX = a; } if (b < minY) { minY = b; } if (c > maxX) { maxX = c; } if (d > maxY) { maxY = d; }
    }
    var side = Math.max(maxX - minX, maxY - minY, 1) / Math.max(1, Math.sqrt(n / 4));
    var nx = Math.max(1, Math.ceil((maxX - minX) / side) + 1), ny = Math.max(1, Math.ceil((maxY - minY) / side) + 1);
    var start = new Int32Array(nx * ny + 1), items, fill, pass;
    function each(i, visit) {
      if (!(box[4 * i] <= box[4 * i + 2])) { return; }
      var x0 = Math.floor((box[4 * i] - minX) / side), x1 = Math.floor((box[4 * i + 2] - minX) / side);
      var y0 = Math.floor((box[4 * i + 1] - minY) / side), y1 = Math.floor((box[4 * i + 3] - minY) / side), gx, gy;
      for (gy = y0; gy <= y1; gy++) { for (gx = x0; gx <= x1; gx++) { visit(gy * nx + gx); } }
    }
    for (i = 0; i < n; i++) { each(i, function (cell) { start[cell + 1]++; }); }
    for (i = 0; i < nx * ny; i++) { start[i + 1] += start[i]; }
    items = new Int32Array(start[nx * ny]);
    fill = start.slice(0, nx * ny);
    for (pass = 0; pass < n; pass++) { each(pass, function (cell) { items[fill[cell]++] = pass; }); }
    var stamp = new Int32Array(n), round = 0;
    G.index = {box: box, query: function (a, b, c, d) {
      var out = [], gx, gy, k, id;
      var x0 = Math.max(0, Math.floor((a - minX) / side)), x1 = Math.min(nx - 1, Math.floor((c - minX) / side));
      var y0 = Math.max(0, Math.floor((b - minY) / side)), y1 = Math.min(ny - 1, Math.floor((d - minY) / side));
      round++;
      for (gy = y0; gy <= y1; gy++) {
        for (gx = x0; gx <= x1; gx++) {
          for (k = start[gy * nx + gx]; k < start[gy * nx + gx + 1]; k++) {
            id = items[k];
            if (stamp[id] !== round && box[4 * id] <= c && box[4 * id + 2] >= a && box[4 * id + 1] <= d &&
                box[4 * id + 3] >= b) {
              stamp[id] = round;
              out.push(id);
            }
          }
        }
      }
      return out.sort(function (p, q) { return p - q; });
    }};
    return G.index;
  }

  function mercator(latlng) {
    var lat = Math.max(-85.05, Math.min(85.05, latlng.lat)) / DEG;
    return [latlng.lng / DEG * R, R * Math.log(Math.tan(Math.PI / 4 + lat / 2))];
  }

  function insidePolygon(G, i, x, y) {
    var inside = false, r, v, s, e, ax, ay, bx, by;
    for (r = G.featureRing[i]; r < G.featureRing[i + 1]; r++) {
      s = G.ringVertex[r]; e = G.ringVertex[r + 1];
      for (v = s; v < e; v++) {
        ax = G.xy[2 * v]; ay = G.xy[2 * v + 1];
        bx = G.xy[2 * (v + 1 < e ? v + 1 : s)]; by = G.xy[2 * (v + 1 < e ? v + 1 : s) + 1];
        if ((ay > y) !== (by > y) && x < (bx - ax) * (y - ay) / (by - ay) + ax) { inside = !inside; }
      }
    }
    return inside;
  }

  function nearLine(G, i, x, y, tolerance) {
    var r, v, ax, ay, bx, by, t, dx, dy;
    for (r = G.featureRing[i]; r < G.featureRing[i + 1]; r++) {
      for (v = G.ringVertex[r]; v < G.ringVertex[r + 1]; v++) {
        ax = G.xy[2 * v]; ay = G.xy[2 * v + 1];
        bx = v + 1 < G.ringVertex[r + 1] ? G.xy[2 * v + 2] : ax;
        by = v + 1 < G.ringVertex[r + 1] ? G.xy[2 * v + 3] : ay;
        dx = bx - ax; dy = by - ay;
        t = dx || dy ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy))) : 0;
        if (Math.hypot(ax + t * dx - x, ay + t * dy - y) <= tolerance) { return true; }
      }
    }
    return false;
  }

  /* The top-most feature of a geometry set at latlng (-1: none); `pixels` of slack for lines and points. */
  function hit(G, latlng, pixels) {
    var p = mercator(latlng), tolerance = pixels * WORLD / (256 * Math.pow(2, map.getZoom()));
    var ids = spatialIndex(G).query(p[0] - tolerance, p[1] - tolerance, p[0] + tolerance, p[1] + tolerance), k;
    for (k = ids.length - 1; k >= 0; k--) {
      if (G.type === "polygon" ? insidePolygon(G, ids[k], p[0], p[1]) : nearLine(G, ids[k], p[0], p[1], tolerance)) {
        return ids[k];
      }
    }
    return -1;
  }

  /* ------------------------------------------------------------------ canvas tiles (large layers) */

  var FeatureTiles = L.GridLayer.extend({
    createTile: function (coords) {
      var size = this.getTileSize(), canvas = document.createElement("canvas"), ratio = window.devicePixelRatio || 1;
      canvas.width = size.x * ratio;
      canvas.height = size.y * ratio;
      var context = canvas.getContext("2d");
      context.scale(ratio, ratio);
      drawTile(context, this.options.source, coords, size);
      return canvas;
    }
  });

  function drawTile(context, source, coords, size) {
    var G = source.G, scale = 256 * Math.pow(2, coords.z) / WORLD / (256 / size.x);
    var x0 = coords.x * size.x / scale - WORLD / 2, y0 = WORLD / 2 - coords.y * size.y / scale, pad = 6 / scale;
    var ids = spatialIndex(G).query(x0 - pad, y0 - size.y / scale - pad, x0 + size.x / scale + pad, y0 + pad);
    var k, id, colour, r, v;
    context.lineWidth = G.type === "line" ? 2 : 0.5;
    context.strokeStyle = "rgba(40,40,40,0.55)";
    context.globalAlpha = 0.8;
    for (k = 0; k < ids.length; k++) {
      id = ids[k];
      colour = source.paint(id);
      if (!colour) { continue; }
      context.beginPath();
      for (r = G.featureRing[id]; r < G.featureRing[id + 1]; r++) {
        for (v = G.ringVertex[r]; v < G.ringVertex[r + 1]; v++) {
          var px = (G.xy[2 * v] - x0) * scale, py = (y0 - G.xy[2 * v + 1]) * scale;
          if (G.type === "point") { context.moveTo(px + 4, py); context.arc(px, py, 4, 0, 2 * Math.PI); }
          else if (v === G.ringVertex[r]) { context.moveTo(px, py); } else { context.lineTo(px, py); }
        }
        if (G.type === "polygon") { context.closePath(); }
      }
      if (G.type === "line") { context.strokeStyle = colour; context.stroke(); continue; }
      context.fillStyle = colour;
      context.fill("evenodd");
      if (coords.z >= 15 || G.type === "point") { context.stroke(); }
    }
  }

  /* A large layer: every feature on canvas tiles from spec.tiles.minZoom, cells below it. */
  var BigLayer = L.Layer.extend({
    initialize: function (spec) {
      this.spec = spec;
      this.source = {G: geometry(spec.geometry), paint: painter(spec.fill, spec.table)};
      this.tiles = new FeatureTiles({pane: "cm-tiles", minZoom: spec.tiles.minZoom, maxZoom: 22, source: this.source});
      this.cells = vectorLayer({kind: "polygon", geometry: spec.tiles.geometry, table: spec.tiles.table,
        fill: spec.fill, tooltip: [spec.fill.column || "features", "features"].filter(Boolean), popup: null,
        title: spec.title}, "cm-polygons");
    },
    onAdd: function (m) { this._switch(); m.on("zoomend", this._switch, this); bigOnMap.push(this); },
    onRemove: function (m) {
      m.off("zoomend", this._switch, this);
      m.removeLayer(this.tiles);
      m.removeLayer(this.cells);
      bigOnMap.splice(bigOnMap.indexOf(this), 1);
    },
    full: function () { return map.getZoom() >= this.spec.tiles.minZoom; },
    _switch: function () {
      var full = this.full();
      if (full) { map.removeLayer(this.cells); this.tiles.addTo(map); }
      else { map.removeLayer(this.tiles); this.cells.addTo(map); }
      drawLegends();
    },
    hit: function (latlng) {
      return this.full() ? hit(this.source.G, latlng, this.source.G.type === "polygon" ? 0 : 6) : -1;
    }
  });

  /* ------------------------------------------------------------------ layers */

  function rows(tableKey, i, columns) {
    var table = el("table", "carbonmap-table");
    columns.forEach(function (c) {
      var tr = el("tr", "", table);
      el("th", "", tr, field(c)[0]);
      el("td", "", tr, withUnit(c, column(tableKey, c)(i)));
    });
    return table;
  }

  function featurePopup(spec, i) {
    var box = el("div", "carbonmap-feature");
    el("div", "cm-popup-title", box, spec.title);
    box.appendChild(rows(spec.table, i, spec.popup));
    if (spec.tiles) { el("div", "cm-note", box, say("moreInGpkg")); }
    return box;
  }

  function tooltip(spec, i) {
    var box = el("div", "");
    spec.tooltip.forEach(function (c, k) {
      var line = el("div", k === 0 && spec.units ? "cm-tip-name" : "", box);
      var value = column(spec.table, c)(i);
      line.textContent = spec.units && k === 0 ? shown(c, value) : field(c)[0] + ": " + withUnit(c, value);
    });
    return box;
  }

  /* Popups fit the map below the controls at its top (zoom, find box, panel button). */
  function popupOptions() {
    var size = map.getSize(), phone = size.x < 600, top = phone ? 150 : 12;
    return {maxWidth: Math.min(380, size.x - 40), minWidth: Math.min(260, size.x - 60),
            maxHeight: Math.max(160, (size.y - top) * (phone ? 0.62 : 0.7)), className: "cm-popup",
            autoPanPaddingTopLeft: [12, top], autoPanPaddingBottomRight: [12, 12]};
  }

  function collection(G) {
    var features = [], i;
    for (i = 0; i < G.n; i++) { features.push({type: "Feature", id: i, geometry: geojson(G, i), properties: {}}); }
    return {type: "FeatureCollection", features: features};
  }

  /* A Leaflet GeoJSON layer of a spec's features, in `pane`. */
  function vectorLayer(spec, pane) {
    var G = geometry(spec.geometry), paint = painter(spec.fill, spec.table), line = G.type === "line";
    var bubbling = !spec.units && !spec.popup;  // a click on a feature without a popup is a click on the map
    return L.geoJSON(collection(G), {
      pane: pane, bubblingMouseEvents: bubbling,
      style: function (f) {
        var colour = paint(f.id);
        if (line) {  /* widths: wider for each higher class (flows by amount) */
          var rank = spec.widths && spec.fill.colours ? spec.fill.colours.indexOf(colour) : -1;
          return {color: colour || "#888", weight: rank >= 0 ? 2 + 1.5 * rank : 2.5, opacity: colour ? 0.9 : 0};
        }
        return {color: "#333333", weight: spec.units ? 0.8 : 0.5, fillColor: colour || "#000",
                fillOpacity: colour ? (spec.units ? 0.75 : 0.7) : 0, opacity: colour ? 0.8 : 0.3};
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {radius: 6, color: "#333333", weight: 0.6, fillColor: paint(f.id) || "#888",
                                       fillOpacity: 0.9, pane: pane, bubblingMouseEvents: bubbling});
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(function () { return tooltip(spec, f.id); }, {sticky: true, className: "cm-tooltip"});
        if (spec.units) {  // the map's click: large layers drawn over the unit come first
          layer.on("click", function (e) { onClick(e, f.id); });
        } else if (spec.popup) {
          layer.bindPopup(function () { return featurePopup(spec, f.id); }, popupOptions());
        }
      }
    });
  }

  function paneOf(spec) {
    if (spec.kind === "image") { return "cm-rasters"; }
    if (spec.units) { return "cm-units"; }
    return {polygon: "cm-polygons", line: "cm-lines", point: "cm-points"}[spec.kind];
  }

  function makeLayer(spec) {
    if (spec.kind === "image") { return L.imageOverlay(spec.url, spec.bounds, {opacity: 0.85, pane: "cm-rasters"}); }
    if (spec.tiles) { return new BigLayer(spec); }
    return vectorLayer(spec, paneOf(spec));
  }

  /* Show or hide a layer (made when first shown); unit layers exclude each other. */
  function setShown(id, on) {
    var entry = entries[id];
    if (on && entry.spec.units) {
      Object.keys(entries).forEach(function (other) {
        if (other !== id && entries[other].spec.units && entries[other].on) { setShown(other, false); }
      });
    }
    entry.on = on;
    if (entry.input) { entry.input.checked = on; }
    if (on) {
      entry.layer = entry.layer || makeLayer(entry.spec);
      entry.layer.addTo(map);
      shownOrder.push(id);
    } else {
      if (entry.layer) { map.removeLayer(entry.layer); }
      shownOrder = shownOrder.filter(function (s) { return s !== id; });
    }
    drawLegends();
  }

  /* ------------------------------------------------------------------ legends */

  function drawLegends() {
    if (!legendBox) { return; }
    legendBox.textContent = "";
    shownOrder.slice().reverse().forEach(function (id) {
      var spec = entries[id].spec, legend = spec.legend;
      if (!legend) { return; }
      var box = el("div", "carbonmap-legend-item", legendBox), single = legend.rows.length === 1 && !legend.rows[0][1];
      var title = el("div", "cm-legend-title" + (single ? " cm-legend-row" : ""), box);
      if (single) { swatch(spec.kind, legend.rows[0][0], title); }
      el("span", "", title, legend.title);
      if (legend.unit) { el("span", "cm-legend-unit", title, " (" + legend.unit + ")"); }
      legend.rows.forEach(function (row) {
        if (single) { return; }
        var line = el("div", "cm-legend-row", box);
        swatch(spec.kind, row[0], line);
        el("span", "", line, row[1]);
      });
      var note = legend.note || (spec.tiles && !entries[id].layer.full() ? spec.tiles.note : "");
      if (note) { el("div", "cm-note", box, note); }
    });
    legendBox.style.display = legendBox.childNodes.length ? "" : "none";
  }

  function swatch(kind, colour, parent) {
    el("span", "cm-swatch cm-swatch-" + kind, parent).style.background = colour;
  }

  function legendControl() {
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      legendBox = L.DomUtil.create("div", "carbonmap-legend");
      L.DomEvent.disableClickPropagation(legendBox);
      L.DomEvent.disableScrollPropagation(legendBox);
      return legendBox;
    };
    control.addTo(map);
  }

  /* ------------------------------------------------------------------ the layer panel */

  function entryLabel(spec, parent) {
    var label = el("label", "cm-entry", parent), input = el("input", "", label);
    input.type = "checkbox";
    el("span", "", label, spec.title);
    entries[spec.id].input = input;
    input.addEventListener("change", function () { setShown(spec.id, input.checked); });
    return label;
  }

  function groupSection(group, specs, open, parent) {
    var section = el("div", "cm-group" + (open ? "" : " cm-folded"), parent), top = el("div", "cm-group-head", section);
    var head = el("button", "leaflet-control-layers-group-name cm-group-name", top, group[1]);
    head.type = "button";
    head.setAttribute("aria-expanded", String(open));
    el("span", "cm-count", top, String(specs.length));
    var list = el("div", "leaflet-control-layers-overlays cm-group-list", section);
    specs.forEach(function (spec) { entryLabel(spec, list); });
    head.addEventListener("click", function () {
      head.setAttribute("aria-expanded", String(section.classList.toggle("cm-folded") === false));
    });
    return section;
  }

  function filterPanel(text) {
    var wanted = text.trim().toLowerCase();
    panel.querySelectorAll(".cm-group").forEach(function (section) {
      var any = false;
      section.querySelectorAll(".cm-entry").forEach(function (label) {
        var match = !wanted || label.textContent.toLowerCase().indexOf(wanted) >= 0;
        label.style.display = match ? "" : "none";
        any = any || match;
      });
      section.style.display = any ? "" : "none";
      section.classList.toggle("cm-filtered", !!wanted);
    });
  }

  function basemapSection(parent) {
    var section = el("div", "leaflet-control-layers-base cm-bases", parent);
    el("div", "cm-bases-title", section, data.words.basemap);
    data.basemaps.forEach(function (base) {
      var label = el("label", "cm-entry", section), input = el("input", "", label);
      input.type = "radio";
      input.name = "carbonmap-basemap";
      input.checked = base[3];
      el("span", "", label, base[0]);
      input.addEventListener("change", function () { setBase(base); });
    });
  }

  var bases = [], offlineNote = null;

  /* The chosen basemap (and, while it cannot load, one notice that says so). */
  function setBase(chosen) {
    bases.forEach(function (layer) { map.removeLayer(layer); });
    bases = [];
    if (offlineNote) { map.removeControl(offlineNote); offlineNote = null; }
    if (chosen[1] === null) { return; }
    var tiles = L.tileLayer(chosen[1], chosen[2]);
    tiles.on("tileerror", function () {
      if (offlineNote || bases.indexOf(tiles) < 0) { return; }
      offlineNote = L.control({position: "bottomright"});
      offlineNote.onAdd = function () {
        return el("div", "carbonmap-legend cm-offline", null, say("offline", {name: chosen[0]}));
      };
      offlineNote.addTo(map);
    });
    bases.push(tiles.addTo(map));
  }

  function panelControl() {
    var control = L.control({position: "topright"});
    control.onAdd = function () {
      panel = L.DomUtil.create("div", "leaflet-control-layers leaflet-control-layers-expanded carbonmap-panel");
      var top = el("div", "cm-panel-top", panel), toggle = el("button", "cm-panel-toggle", top, data.words.layers);
      toggle.type = "button";
      toggle.title = data.words.closeLayers;
      toggle.setAttribute("aria-expanded", "true");
      toggle.addEventListener("click", function () { collapsePanel(!panel.classList.contains("cm-collapsed")); });
      var body = el("div", "cm-panel-body", panel), filter = el("input", "cm-filter", body);
      filter.type = "search";
      filter.placeholder = data.words.filter;
      filter.addEventListener("input", function () { filterPanel(filter.value); });
      var groups = el("div", "cm-groups", body);
      data.groups.forEach(function (group, k) {
        var specs = data.layers.filter(function (spec) { return spec.group === group[0]; });
        if (k === 0) { specs.push({id: "unit-names", title: data.words.unitNames, group: group[0]}); }
        groupSection(group, specs, k === 0, groups);
      });
      basemapSection(body);
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
      return panel;
    };
    control.addTo(map);
  }

  function collapsePanel(collapse) {
    panel.classList.toggle("cm-collapsed", collapse);
    map.getContainer().classList.toggle("cm-drawer-open", !collapse);
    var toggle = panel.querySelector(".cm-panel-toggle");
    toggle.setAttribute("aria-expanded", String(!collapse));
    toggle.title = collapse ? data.words.openLayers : data.words.closeLayers;
  }

  /* ------------------------------------------------------------------ planning units */

  function unitName(i) { return String(column(units.table, units.name)(i)); }

  function highlightUnit(i) {
    if (highlight) { map.removeLayer(highlight); }
    var shape = geojson(geometry(units.geometry), i);
    highlight = L.layerGroup([
      L.geoJSON(shape, {pane: "cm-highlight", interactive: false, style: {color: "#ffffff", weight: 7, fill: false}}),
      L.geoJSON(shape, {pane: "cm-highlight", interactive: false, style: {color: "#e6007e", weight: 3.5, fill: false}})
    ]).addTo(map);
  }

  /* A small bar of a unit's value against the range of all units, with the city average marked. */
  function bar(columnName, value, parent) {
    var stats = units.card.stats[columnName];
    if (!stats || typeof value !== "number" || field(columnName)[2] === 1) { return; }  // no bar for years
    var low = Math.min(0, stats[0]), high = Math.max(0, stats[1]), span = high - low || 1;
    var track = el("div", "cm-bar", parent), zero = (0 - low) / span * 100;
    var fill = el("span", "cm-bar-fill" + (value < 0 ? " cm-bar-negative" : ""), track);
    fill.style.left = Math.min(zero, (value - low) / span * 100) + "%";
    fill.style.width = Math.abs(value) / span * 100 + "%";
    var mark = el("span", "cm-bar-mean", track);
    mark.style.left = (stats[2] - low) / span * 100 + "%";
    mark.title = data.words.cityAverage + ": " + withUnit(columnName, stats[2]);
    el("div", "cm-bar-caption", parent, data.words.cityAverage + " " + withUnit(columnName, stats[2]));
  }

  /* A colour chip for a class (the balance class, the efficiency grade); false for other figures. */
  function classChip(columnName, value, parent) {
    var spec = data.layers.filter(function (s) { return s.units && s.fill.column === columnName; })[0];
    if (!spec || spec.fill.type !== "categories") { return false; }
    if (value !== null) {
      el("span", "cm-chip", parent).style.background = own(spec.fill.colours, String(value)) || spec.fill.missing;
    }
    return true;
  }

  function figure(i, columnName, parent) {
    var value = column(units.table, columnName)(i), row = el("div", "cm-figure-row", parent);
    el("div", "cm-figure-label", row, field(columnName)[0]);
    var valueBox = el("div", "cm-figure-value", row);
    var chip = classChip(columnName, value, valueBox);
    el("span", "", valueBox, withUnit(columnName, value));
    interval(i, columnName, row);
    if (!chip) { bar(columnName, value, row); }
  }

  /* Under a figure with drawn percentiles (columnName_p5, _p95): "5-95 %: low - high". */
  function interval(i, columnName, parent) {
    var low = column(units.table, columnName + "_p5")(i), high = column(units.table, columnName + "_p95")(i);
    if (typeof low !== "number" || typeof high !== "number") { return; }
    el("div", "cm-interval", parent, say("interval", {low: shown(columnName, low), high: withUnit(columnName, high)}));
  }

  /* The unit card: key figures by theme, every figure behind a fold. */
  function card(i) {
    var box = el("div", "carbonmap-card"), head = el("div", "cm-card-head", box);
    el("div", "cm-card-kind", head, data.words.unitCard);
    el("div", "cm-card-name", head, unitName(i));
    if (units.id !== units.name) { el("div", "cm-card-id", head, String(column(units.table, units.id)(i))); }
    units.card.themes.forEach(function (theme) {
      if (!theme[1].length) { return; }
      var section = el("div", "cm-card-theme", box);
      el("div", "cm-card-theme-name", section, theme[0]);
      theme[1].forEach(function (c) { figure(i, c, section); });
    });
    var details = el("details", "cm-details", box);
    el("summary", "", details, data.words.allFigures);
    units.card.themes.forEach(function (theme) {
      el("div", "cm-card-theme-name", details, theme[0]);
      details.appendChild(rows(units.table, i, theme[2]));
    });
    return box;
  }

  function openCard(i, latlng) {
    L.popup(popupOptions()).setLatLng(latlng).setContent(card(i)).openOn(map);
    highlightUnit(i);
  }

  /* Unit boundaries and names: names at the centres of the units, larger units first, none overlapping. */
  function unitNamesLayer() {
    var outline = L.geoJSON(collection(geometry(units.geometry)), {pane: "cm-outline", interactive: false,
      style: {color: "#3a3a3a", weight: 1.3, fill: false, opacity: 0.9}});
    var markers = units.labels.map(function (p, i) {
      var text = el("span", "", null, unitName(i));
      return {area: p[2], marker: L.marker([p[0], p[1]], {pane: "cm-labels", interactive: false, keyboard: false,
        icon: L.divIcon({className: "cm-label", html: text, iconSize: null})})};
    });
    markers.sort(function (a, b) { return b.area - a.area; });
    var group = L.layerGroup([outline].concat(markers.map(function (m) { return m.marker; })));
    function declutter() {
      var placed = [];
      markers.forEach(function (m) {
        var node = m.marker.getElement();
        if (!node) { return; }
        node.style.visibility = "visible";
        var box = node.getBoundingClientRect(), clash = placed.some(function (o) {
          return box.left < o.right + 4 && box.right + 4 > o.left && box.top < o.bottom && box.bottom > o.top;
        });
        if (clash) { node.style.visibility = "hidden"; } else { placed.push(box); }
      });
    }
    group.on("add", function () { setTimeout(declutter, 0); });
    map.on("zoomend moveend", function () { if (map.hasLayer(group)) { declutter(); } });
    return group;
  }

  /* ------------------------------------------------------------------ find a unit */

  function normal(text) { return String(text).trim().toLowerCase(); }

  function finderControl() {
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "carbonmap-finder leaflet-bar");
      var input = el("input", "", box), list = el("datalist", "", box), status = el("div", "cm-find-status", box);
      var choices = el("div", "cm-find-choices", box);
      list.id = "carbonmap-units";
      input.setAttribute("list", list.id);
      input.type = "search";
      input.placeholder = data.words.find;
      input.setAttribute("aria-label", data.words.find);
      units.find.forEach(function (u) { el("option", "", list).value = u[0]; });
      function go(u) {
        var i = units.find.indexOf(u);
        map.fitBounds(u[2], {maxZoom: 15, padding: [20, 20]});
        highlightUnit(i);
        status.textContent = say("found", {name: u[0]});
        choices.textContent = "";
      }
      function run() {
        var wanted = normal(input.value);
        choices.textContent = "";
        if (!wanted) { status.textContent = ""; if (highlight) { map.removeLayer(highlight); } return; }
        var exact = units.find.filter(function (u) { return normal(u[0]) === wanted || normal(u[1]) === wanted; });
        var found = exact.length ? exact : units.find.filter(function (u) {
          return normal(u[0]).indexOf(wanted) >= 0;
        });
        if (found.length === 1) { go(found[0]); return; }
        if (!found.length) { status.textContent = say("noMatch", {text: input.value.trim()}); return; }
        status.textContent = say("matches", {n: found.length});
        found.forEach(function (u) {
          var button = el("button", "cm-find-choice", choices, u[0]);
          button.type = "button";
          button.addEventListener("click", function () { input.value = u[0]; go(u); });
        });
      }
      input.addEventListener("change", run);
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") { run(); } });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
  }

  /* ------------------------------------------------------------------ header and start */

  function header(parent) {
    var box = el("header", "cm-header", parent);
    el("h1", "cm-title", box, data.header.title);
    var figures = el("div", "cm-figures", box);
    data.header.figures.forEach(function (f) {
      var item = el("div", "cm-figure", figures);
      el("span", "cm-figure-name", item, f[0]);
      el("b", "", item, f[1]);
      if (f[2]) { el("span", "cm-figure-unit", item, f[2]); }
    });
  }

  function panes() {
    [["cm-units", 300], ["cm-rasters", 350], ["cm-polygons", 400], ["cm-tiles", 405], ["cm-lines", 410],
     ["cm-points", 420], ["cm-outline", 430], ["cm-highlight", 440], ["cm-labels", 450]].forEach(function (p) {
      map.createPane(p[0]).style.zIndex = p[1];
    });
    map.getPane("cm-outline").style.pointerEvents = "none";
    map.getPane("cm-labels").style.pointerEvents = "none";
  }

  /* A click on the map or on unit `unit`: a feature of a large layer shown there, else the unit's card. */
  function onClick(e, unit) {
    var k, i;
    for (k = bigOnMap.length - 1; k >= 0; k--) {
      i = bigOnMap[k].hit(e.latlng);
      if (i >= 0) {
        L.popup(popupOptions()).setLatLng(e.latlng).setContent(featurePopup(bigOnMap[k].spec, i)).openOn(map);
        return;
      }
    }
    i = unit === undefined ? hit(geometry(units.geometry), e.latlng, 0) : unit;
    if (i >= 0) { openCard(i, e.latlng); }
  }

  /* The city in view, clear of the legend, the panel and (on a phone) the controls at the top. */
  function fitCity(phone) {
    var legend = legendBox.offsetWidth ? legendBox.getBoundingClientRect() : {width: 0, height: 0};
    if (phone) {
      map.fitBounds(data.bounds, {paddingTopLeft: [8, 60], paddingBottomRight: [8, legend.height + 16]});
    } else {
      map.fitBounds(data.bounds, {paddingTopLeft: [legend.width + 16, 12],
                                  paddingBottomRight: [panel.offsetWidth + 16, 12]});
    }
  }

  function start(root, pageData) {
    data = pageData;
    units = data.units;
    root.className = "carbonmap-page";
    header(root);
    var holder = el("div", "cm-map", root);
    // zoom limits of the map's own: else Leaflet takes them from the tile layers shown (the canvas
    // tiles of a large layer start at a close zoom, and would keep the reader from zooming out)
    map = L.map(holder, {preferCanvas: true, zoomControl: true, zoomSnap: 0.25, minZoom: 1, maxZoom: 22});
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    panes();
    map.fitBounds(data.bounds);
    L.control.scale({imperial: false, position: "bottomright"}).addTo(map);
    finderControl();
    legendControl();
    data.layers.forEach(function (spec) { entries[spec.id] = {spec: spec, on: false}; });
    entries["unit-names"] = {spec: {id: "unit-names", kind: "polygon"}, on: false};
    entries["unit-names"].layer = unitNamesLayer();
    panelControl();
    var phone = holder.clientWidth < 600;
    if (phone) { collapsePanel(true); }
    data.layers.forEach(function (spec) { if (spec.show) { setShown(spec.id, true); } });
    setShown("unit-names", true);
    fitCity(phone);
    map.on("click", onClick);
    carbonmap.map = map;
    window.onemap = map;
  }

  /* For tests and the curious: the page's data, a decoded geometry set, the map (after start). */
  return {start: start, entries: entries, format: fmt, show: setShown, geometry: geometry,
          data: function () { return data; }};
}());
