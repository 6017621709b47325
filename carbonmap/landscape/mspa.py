"""Morphological spatial pattern analysis (MSPA) of a binary habitat map.

MSPA (Soille & Vogt 2009; Vogt & Riitters 2017, GuidosToolbox) sorts every foreground
(habitat) pixel into one of seven classes by its geometry alone:

=============  =====  ===========================================================
class          value  definition (edge width w pixels, foreground connectivity c)
=============  =====  ===========================================================
core           17     farther than w from the background
islet          9      in a foreground component that has no core
perforation    5      within w of core, along a hole (background enclosed by core
                      and its boundary zone)
edge           3      within w of core, along the outer background
loop           65     connector joining one core component to itself
bridge         33     connector joining two or more core components
branch         1      connector with only one end on core, edge, perforation,
                      loop or bridge (a dead end)
background     0      not foreground
missing        129    no data
=============  =====  ===========================================================

The values are GuidosToolbox's: bit flags on 1 (1 + 2 edge, 1 + 4 perforation, 1 + 8 islet,
1 + 16 core, 1 + 32 bridge, 1 + 64 loop, 1 + 128 missing). With *transition* on, the edge
or perforation pixels through which a loop or bridge reaches its core take the connector's
value plus the zone's flag (bridge through edge 35, through perforation 37; loop 67, 69),
so corridors run through to the core. With *intext* on, everything inside a hole (the
region enclosed by core and perforation) gets 100 added (internal background 100, internal
islet 109, ...).

Precise rules carbonmap follows
-------------------------------
- Distances are counted in pixel steps with the foreground connectivity: chessboard
  (square structuring element) for 8, city block (cross) for 4. Pixels beyond the image
  border and missing pixels count as background.
- Core = foreground eroded w times. The boundary zone = foreground reached from core in at
  most w steps through foreground (geodesic dilation). Holes = background regions that
  cannot reach the image border without crossing core or the boundary zone (background
  connectivity is the complement of the foreground's: 4 for 8, 8 for 4). Boundary-zone
  pixels within w steps of a hole's background are perforation, the others edge.
- Connectors = the remaining foreground of components that have core. Each connected set of
  them touches the boundary zone at one or more *contacts* (connected groups of touched
  zone pixels), each leading to one core component. A set touching two or more core
  components is a bridge, one core at two or more contacts a loop, otherwise a branch. In
  a bridge or loop, the pixels on shortest paths between the contacts it joins, widened by
  w steps within the set, are bridge or loop; what sticks out beyond is branch.
- Transition pixels: boundary-zone pixels on a crossing of w side (4-neighbour) steps from a
  loop or bridge pixel to core.

References
----------
.. [1] Soille P., Vogt P. (2009). Morphological segmentation of binary patterns. Pattern
   Recognition Letters 30(4): 456-459.
.. [2] Vogt P., Riitters K. (2017). GuidosToolbox: universal digital image object analysis.
   European Journal of Remote Sensing 50(1): 352-361.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from carbonmap.errors import InputError

__all__ = ["mspa", "MSPA_CLASSES"]

#: MSPA class name -> value (GuidosToolbox's legend).
MSPA_CLASSES = {"background": 0, "branch": 1, "edge": 3, "perforation": 5, "islet": 9, "core": 17, "bridge": 33,
                "loop": 65, "missing": 129}
_EDGE_FLAG, _PERFORATION_FLAG, _INTERNAL = 2, 4, 100


def _structure(connectivity: int) -> np.ndarray:
    return ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)


def mspa(foreground: np.ndarray, *, connectivity: int = 8, edge_width: int = 1, transition: bool = True,
         intext: bool = True) -> np.ndarray:
    r"""MSPA classes of a binary habitat map (see the module docstring for the rules and values).

    Parameters
    ----------
    foreground : array (H, W) of bool, or masked array (masked = missing)
        Habitat (True) and background (False).
    connectivity : {8, 4}
        Foreground connectivity.
    edge_width : int [pixels]
        Width of edges and perforations, >= 1 (e.g. 100 m / 30 m cells -> 3).
    transition : bool
        GuidosToolbox's switch: edge or perforation pixels through which a loop or bridge
        reaches its core take the connector's value plus the zone's flag.
    intext : bool
        GuidosToolbox's switch: 100 is added to everything inside a hole.

    Returns
    -------
    ndarray (H, W) of uint8
        MSPA values (:data:`MSPA_CLASSES`, GuidosToolbox's legend).

    Raises
    ------
    InputError
        For a connectivity other than 4 or 8, or an edge width that is not a whole number >= 1.

    Notes
    -----
    Core is the foreground eroded `edge_width` times, :math:`C = F \ominus^{w} B`; the boundary
    zone is what geodesic dilation of core reaches within the foreground in w steps; the rest
    of the classes follow from holes and connectors (module docstring).

    References
    ----------
    .. [1] Soille P., Vogt P. (2009). Morphological segmentation of binary patterns. Pattern
       Recognition Letters 30(4): 456-459.
    .. [2] Vogt P., Riitters K. (2017). GuidosToolbox: universal digital image object analysis.
       European Journal of Remote Sensing 50(1): 352-361.

    Examples
    --------
    >>> habitat = np.zeros((7, 7), bool)
    >>> habitat[1:6, 1:6] = True
    >>> sorted(set(mspa(habitat).ravel().tolist()))  # background, edge, core
    [0, 3, 17]
    """
    if connectivity not in (4, 8):
        raise InputError(f"the connectivity must be 8 or 4, got {connectivity}.", fix="use 8 (default) or 4.")
    if int(edge_width) != edge_width or edge_width < 1:
        raise InputError(f"the edge width must be a whole number of pixels >= 1, got {edge_width}.",
                         fix="e.g. 1, or round(edge_m / cell_m).")
    missing = np.ma.getmaskarray(foreground)
    fg = np.asarray(np.ma.getdata(foreground), dtype=bool) & ~missing
    w = int(edge_width)
    se = _structure(connectivity)
    core = ndimage.binary_erosion(fg, se, iterations=w, border_value=0)
    core_id, _ = ndimage.label(core, se)
    component, n_components = ndimage.label(fg, se)
    has_core = np.zeros(n_components + 1, dtype=bool)
    has_core[component[core]] = True
    has_core[0] = False
    islet = fg & ~has_core[component]
    zone, zone_core = _boundary_zone(core_id, fg & ~islet, se, w)
    background_se = _structure(4 if connectivity == 8 else 8)
    enclosed = ndimage.binary_fill_holes(core | zone, background_se) & ~(core | zone)
    perforation = zone & _reach(enclosed & ~fg, np.ones_like(fg), se, w)
    out = np.zeros(fg.shape, dtype=np.uint8)
    out[islet] = MSPA_CLASSES["islet"]
    out[core] = MSPA_CLASSES["core"]
    out[zone] = MSPA_CLASSES["edge"]
    out[perforation] = MSPA_CLASSES["perforation"]
    connectors = fg & ~core & ~zone & ~islet
    _classify_connectors(out, connectors, zone, zone_core, core, se, w, transition)
    if intext:
        out[enclosed] += _INTERNAL
    out[missing] = MSPA_CLASSES["missing"]
    return out


def _reach(start: np.ndarray, within: np.ndarray, se: np.ndarray, steps: int) -> np.ndarray:
    """Pixels of `within` reached from `start` in at most `steps` steps through `within`."""
    if steps <= 0 or not start.any():
        return start.copy()
    return ndimage.binary_dilation(start, se, iterations=steps, mask=within) | start


def _boundary_zone(core_id: np.ndarray, fg: np.ndarray, se: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Foreground within w steps of core (through foreground), and the core id each came from."""
    ids = core_id.copy()
    for _ in range(w):
        grown = ndimage.grey_dilation(ids, footprint=se)
        new = (ids == 0) & fg & (grown > 0)
        ids[new] = grown[new]
    zone = (ids > 0) & (core_id == 0)
    return zone, ids


def _classify_connectors(out, connectors, zone, zone_core, core, se, w, transition) -> None:
    """Bridge, loop and branch pixels (and transitions) of every connector set, in place."""
    sets, n_sets = ndimage.label(connectors, se)
    if n_sets == 0:
        return
    touched = ndimage.binary_dilation(connectors, se) & zone
    contact_id, _ = ndimage.label(touched, se)
    margin = w + 1  # room for the contacts and, for transitions, the core behind them
    for k, box in enumerate(ndimage.find_objects(sets), start=1):
        r0, r1 = max(box[0].start - margin, 0), min(box[0].stop + margin, out.shape[0])
        c0, c1 = max(box[1].start - margin, 0), min(box[1].stop + margin, out.shape[1])
        window = (slice(r0, r1), slice(c0, c1))
        mine = sets[window] == k
        contacts = ndimage.binary_dilation(mine, se) & touched[window]
        regions = np.unique(contact_id[window][contacts])
        cores = {int(region): set(np.unique(zone_core[window][contacts & (contact_id[window] == region)]))
                 for region in regions}
        all_cores = set().union(*cores.values()) if cores else set()
        if len(all_cores) >= 2:
            kind = "bridge"
            pairs = [(a, b) for a, b in combinations(cores, 2) if cores[a] != cores[b] or len(cores[a]) > 1]
        elif len(regions) >= 2:
            kind = "loop"
            pairs = list(combinations(cores, 2))
        else:
            out[window][mine] = MSPA_CLASSES["branch"]
            continue
        spine = _spine(mine, contacts, contact_id[window], pairs, se)
        body = _reach(spine, mine, se, w) & mine
        out[window][mine & ~body] = MSPA_CLASSES["branch"]
        out[window][body] = MSPA_CLASSES[kind]
        if transition:
            _transition(out, window, body, zone, core, se, w, MSPA_CLASSES[kind])


def _spine(mine, contacts, contact_id, pairs, se) -> np.ndarray:
    """Pixels of `mine` on a shortest path (pixel steps) between the two contacts of a pair."""
    nodes = mine | contacts
    index = -np.ones(nodes.shape, dtype=np.int64)
    index[nodes] = np.arange(int(nodes.sum()))
    rows, cols = np.nonzero(nodes)
    graph = _pixel_graph(index, rows, cols, se)
    spine = np.zeros(nodes.shape, dtype=bool)
    distances = {}
    for region in {r for pair in pairs for r in pair}:
        starts = index[contacts & (contact_id == region)]
        distances[region] = dijkstra(graph, directed=False, indices=starts, unweighted=True, min_only=True)
    for a, b in pairs:
        da, db = distances[a], distances[b]
        target = index[contacts & (contact_id == b)]
        length = da[target].min()
        if not np.isfinite(length):
            continue
        on_path = np.isclose(da + db, length)
        spine[rows[on_path], cols[on_path]] = True
    return spine & mine


def _pixel_graph(index, rows, cols, se):
    """Sparse adjacency of the pixels numbered in `index` (neighbours by the structure `se`)."""
    height, width = index.shape
    src, dst = [], []
    for dr, dc in zip(*np.nonzero(se)):
        dr, dc = dr - 1, dc - 1
        if (dr, dc) <= (0, 0):
            continue
        r2, c2 = rows + dr, cols + dc
        ok = (r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)
        j = index[r2[ok], c2[ok]]
        keep = j >= 0
        src.append(index[rows[ok], cols[ok]][keep])
        dst.append(j[keep])
    src, dst = np.concatenate(src), np.concatenate(dst)
    n = int(index.max()) + 1
    return coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()


def _transition(out, window, body, zone, core, se, w, value) -> None:
    """Zone pixels on the straight crossing from a loop or bridge to its core: w side steps
    (4-neighbour, so a diagonal touch alone does not widen the crossing)."""
    se = _structure(4)
    zone_w, core_w = zone[window], core[window]
    from_body = [body]
    from_core = [core_w]
    for _ in range(w):
        from_body.append(_reach(from_body[-1], zone_w | body, se, 1))
        from_core.append(_reach(from_core[-1], zone_w | core_w, se, 1))
    crossing = np.zeros_like(body)
    for k in range(1, w + 1):  # k steps from the connector, w + 1 - k from the core
        crossing |= from_body[k] & from_core[w + 1 - k] & zone_w
    target = out[window]
    flags = np.where(target[crossing] == MSPA_CLASSES["perforation"], _PERFORATION_FLAG, _EDGE_FLAG)
    target[crossing] = value + flags
