/* carbonmap one-map helpers: shared geometries and attribute tables, vector and image layers,
 * legends shown with their layer, grouped layer control, basemaps that fail quietly offline,
 * and a find-a-unit box. Written for carbonmap; needs Leaflet and leaflet-groupedlayercontrol.
 *
 * Every string from a project file or data (titles, group and unit names, attribute names and
 * values) is text: it is escaped before it reaches any HTML (escape), or set as textContent or a
 * property. Legends arrive as HTML built by carbonmap/webmap.py, which escapes every part of it. */
var carbonmap = (function () {
  "use strict";
  var geometries = {}, tables = {}, groups = {}, bases = {}, order = [];

  function escape(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function format(value) {
    if (value === null || value === undefined) { return "–"; }
    if (typeof value === "number") {
      return Math.abs(value) >= 1e4 ? value.toLocaleString("en", {maximumFractionDigits: 0})
        : value.toLocaleString("en", {maximumSignificantDigits: 4});
    }
    return escape(value);
  }

  /* An HTML table of row `i` of `table` for `columns` (all columns when none are given). */
  function rows(table, i, columns) {
    var html = "<table class='carbonmap-table'>";
    (columns || Object.keys(table)).forEach(function (c) {
      html += "<tr><th>" + escape(c) + "</th><td>" + format(table[c][i]) + "</td></tr>";
    });
    return html + "</table>";
  }

  function register(map, spec, layer) {
    if (!groups[spec.group]) { groups[spec.group] = {}; order.push(spec.group); }
    groups[spec.group][spec.title] = layer;
    if (spec.legend) { legend(map, layer, spec.legend); }
    if (spec.show) { layer.addTo(map); }
    return layer;
  }

  /* A legend control on the map while `layer` is. */
  function legend(map, layer, html) {
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "carbonmap-legend");
      div.innerHTML = html;
      return div;
    };
    map.on("layeradd", function (e) { if (e.layer === layer) { control.addTo(map); } });
    map.on("layerremove", function (e) { if (e.layer === layer) { control.remove(); } });
  }

  /* A vector layer: spec.geometry and spec.table name shared geometries and attributes;
   * spec.fill holds a colour per feature; spec.tooltip and spec.popup list columns. */
  function vector(map, spec) {
    var geoms = geometries[spec.geometry], table = tables[spec.table];
    var features = geoms.map(function (g, i) {
      return {type: "Feature", id: i, geometry: g, properties: {}};
    });
    var line = spec.kind === "line";
    var layer = L.geoJSON({type: "FeatureCollection", features: features}, {
      style: function (f) {
        var colour = spec.fill[f.id];
        return line ? {color: colour, weight: 2.5, opacity: 0.9}
          : {color: "#333333", weight: 0.5, fillColor: colour, fillOpacity: 0.7};
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {radius: 6, color: "#333333", weight: 0.5,
          fillColor: spec.fill[f.id], fillOpacity: 0.85});
      },
      onEachFeature: function (f, l) {
        l.bindTooltip(function () { return rows(table, f.id, spec.tooltip); }, {sticky: true});
        if (spec.popup) {
          l.bindPopup(function () { return rows(table, f.id, spec.popup); }, {maxHeight: 320, maxWidth: 420});
        }
      }
    });
    return register(map, spec, layer);
  }

  /* A colour-mapped raster, as a PNG over its lat/lon bounds. */
  function image(map, spec) {
    return register(map, spec, L.imageOverlay(spec.url, spec.bounds, {opacity: 0.85}));
  }

  /* A tile basemap (none when `url` is null); offline, its failed tiles show one notice
   * instead of breaking the map. */
  function basemap(map, name, url, options, show) {
    if (url === null) {
      bases[name] = L.layerGroup();
      if (show) { bases[name].addTo(map); }
      return;
    }
    var tiles = L.tileLayer(url, options), warned = false;
    tiles.on("tileerror", function () {
      if (warned) { return; }
      warned = true;
      var note = L.control({position: "bottomright"});
      note.onAdd = function () {
        var div = L.DomUtil.create("div", "carbonmap-legend");
        div.textContent = name + " is unavailable (offline?): the map works without it.";
        return div;
      };
      note.addTo(map);
    });
    bases[name] = tiles;
    if (show) { tiles.addTo(map); }
  }

  /* A search box: type or pick a unit's name, the map zooms to it. */
  function finder(map, units) {
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "carbonmap-finder leaflet-bar");
      var input = L.DomUtil.create("input", "", div), list = L.DomUtil.create("datalist", "", div);
      list.id = "carbonmap-units";
      input.setAttribute("list", list.id);
      input.placeholder = "Zoom to unit…";
      units.forEach(function (u) {
        var option = document.createElement("option");
        option.value = u[0];
        list.appendChild(option);
      });
      input.addEventListener("change", function () {
        var wanted = input.value.trim().toLowerCase();
        var match = units.filter(function (u) { return u[0].toLowerCase() === wanted; })[0]
          || units.filter(function (u) { return u[0].toLowerCase().indexOf(wanted) >= 0; })[0];
        if (match && wanted) { map.fitBounds(match[1]); }
      });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(map);
  }

  /* `layers` (name -> layer) with escaped names: the layer control writes names as HTML. */
  function escapedNames(layers) {
    var out = {};
    Object.keys(layers).forEach(function (name) { out[escape(name)] = layers[name]; });
    return out;
  }

  /* The grouped layer control: the groups of `first` in that order, then the others in the
   * order they were first used. Group and layer names are escaped (the plugin uses innerHTML). */
  function controls(map, first) {
    var grouped = {}, seen = {};
    first.concat(order).forEach(function (g) {
      if (groups[g] && !seen[g]) { seen[g] = true; grouped[escape(g)] = escapedNames(groups[g]); }
    });
    L.control.groupedLayers(escapedNames(bases), grouped, {collapsed: false}).addTo(map);
  }

  return {geometries: geometries, tables: tables, vector: vector, image: image, basemap: basemap,
          finder: finder, controls: controls, groups: groups};
}());
