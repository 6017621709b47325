"""Draw docs/figures/mspa_classes.png: the MSPA classes of the hand-built test pattern
(tests/test_network.py), one cell = 16 x 16 pixels, colours of carbonmap's map legend.

Run: python docs/figures/make_mspa_figure.py
"""

import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors

from carbonmap.landscape.mspa import mspa
from carbonmap.landscape.network import MSPA_LEGEND


def pattern() -> np.ma.MaskedArray:
    g = np.zeros((17, 30), bool)
    g[1:12, 1:12] = True
    g[1:12, 18:29] = True
    g[6, 12:18] = True
    g[2, 12:15] = True
    g[5:8, 5:8] = False
    g[12:15, 22] = True
    g[14, 22:27] = True
    g[12:15, 26] = True
    g[15:17, 2:4] = True
    mask = np.zeros_like(g)
    mask[16, 29] = True
    return np.ma.MaskedArray(g, mask=mask)


def main() -> None:
    classes = mspa(pattern())
    rgb = np.full((*classes.shape, 3), 255, dtype=np.uint8)
    for value, (_, colour) in MSPA_LEGEND.items():
        rgb[classes == value] = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    scale = 16
    image = np.kron(rgb, np.ones((scale, scale, 1), dtype=np.uint8))
    image[::scale, :, :] = image[:, ::scale, :] = 200  # thin grid lines
    out = Path(__file__).with_name("mspa_classes.png")
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)  # a picture, not a map
    with rasterio.open(out, "w", driver="PNG", width=image.shape[1], height=image.shape[0], count=3,
                       dtype="uint8") as dst:
        dst.write(np.moveaxis(image, 2, 0))
    print(out)


if __name__ == "__main__":
    main()
