"""CSS colour-name tables and the authors' RGB -> name rule, written out so webcolors is not a dependency.

The authors used webcolors 1.12/1.13: ``rgb_to_name`` (CSS3, exact match only) and, failing that, the nearest
``CSS21_HEX_TO_NAMES`` entry by squared RGB distance. The tables and the iteration order below follow that
version, which is what decides ties (see nearest_css21_name).
"""

from __future__ import annotations

from typing import Sequence

CSS21_NAMES_TO_HEX: dict[str, str] = {
    "orange": "#ffa500",
    "aqua": "#00ffff", "black": "#000000", "blue": "#0000ff", "fuchsia": "#ff00ff", "green": "#008000",
    "gray": "#808080", "lime": "#00ff00", "maroon": "#800000", "navy": "#000080", "olive": "#808000",
    "purple": "#800080", "red": "#ff0000", "silver": "#c0c0c0", "teal": "#008080", "white": "#ffffff",
    "yellow": "#ffff00",
}
"""The 17 CSS 2.1 names in webcolors' order (orange first, then the 16 HTML 4 names)."""

CSS21_COLOUR_NAMES: tuple[str, ...] = tuple(CSS21_NAMES_TO_HEX)
"""The 17 CSS 2.1 colour names, the only values the nearest-name fallback can return."""

CSS3_NAMES_TO_HEX: dict[str, str] = {
    "aliceblue": "#f0f8ff", "antiquewhite": "#faebd7", "aqua": "#00ffff", "aquamarine": "#7fffd4",
    "azure": "#f0ffff", "beige": "#f5f5dc", "bisque": "#ffe4c4", "black": "#000000",
    "blanchedalmond": "#ffebcd", "blue": "#0000ff", "blueviolet": "#8a2be2", "brown": "#a52a2a",
    "burlywood": "#deb887", "cadetblue": "#5f9ea0", "chartreuse": "#7fff00", "chocolate": "#d2691e",
    "coral": "#ff7f50", "cornflowerblue": "#6495ed", "cornsilk": "#fff8dc", "crimson": "#dc143c",
    "cyan": "#00ffff", "darkblue": "#00008b", "darkcyan": "#008b8b", "darkgoldenrod": "#b8860b",
    "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9", "darkgreen": "#006400", "darkkhaki": "#bdb76b",
    "darkmagenta": "#8b008b", "darkolivegreen": "#556b2f", "darkorange": "#ff8c00", "darkorchid": "#9932cc",
    "darkred": "#8b0000", "darksalmon": "#e9967a", "darkseagreen": "#8fbc8f", "darkslateblue": "#483d8b",
    "darkslategray": "#2f4f4f", "darkslategrey": "#2f4f4f", "darkturquoise": "#00ced1",
    "darkviolet": "#9400d3", "deeppink": "#ff1493", "deepskyblue": "#00bfff", "dimgray": "#696969",
    "dimgrey": "#696969", "dodgerblue": "#1e90ff", "firebrick": "#b22222", "floralwhite": "#fffaf0",
    "forestgreen": "#228b22", "fuchsia": "#ff00ff", "gainsboro": "#dcdcdc", "ghostwhite": "#f8f8ff",
    "gold": "#ffd700", "goldenrod": "#daa520", "gray": "#808080", "grey": "#808080", "green": "#008000",
    "greenyellow": "#adff2f", "honeydew": "#f0fff0", "hotpink": "#ff69b4", "indianred": "#cd5c5c",
    "indigo": "#4b0082", "ivory": "#fffff0", "khaki": "#f0e68c", "lavender": "#e6e6fa",
    "lavenderblush": "#fff0f5", "lawngreen": "#7cfc00", "lemonchiffon": "#fffacd", "lightblue": "#add8e6",
    "lightcoral": "#f08080", "lightcyan": "#e0ffff", "lightgoldenrodyellow": "#fafad2",
    "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3", "lightgreen": "#90ee90", "lightpink": "#ffb6c1",
    "lightsalmon": "#ffa07a", "lightseagreen": "#20b2aa", "lightskyblue": "#87cefa",
    "lightslategray": "#778899", "lightslategrey": "#778899", "lightsteelblue": "#b0c4de",
    "lightyellow": "#ffffe0", "lime": "#00ff00", "limegreen": "#32cd32", "linen": "#faf0e6",
    "magenta": "#ff00ff", "maroon": "#800000", "mediumaquamarine": "#66cdaa", "mediumblue": "#0000cd",
    "mediumorchid": "#ba55d3", "mediumpurple": "#9370db", "mediumseagreen": "#3cb371",
    "mediumslateblue": "#7b68ee", "mediumspringgreen": "#00fa9a", "mediumturquoise": "#48d1cc",
    "mediumvioletred": "#c71585", "midnightblue": "#191970", "mintcream": "#f5fffa", "mistyrose": "#ffe4e1",
    "moccasin": "#ffe4b5", "navajowhite": "#ffdead", "navy": "#000080", "oldlace": "#fdf5e6",
    "olive": "#808000", "olivedrab": "#6b8e23", "orange": "#ffa500", "orangered": "#ff4500",
    "orchid": "#da70d6", "palegoldenrod": "#eee8aa", "palegreen": "#98fb98", "paleturquoise": "#afeeee",
    "palevioletred": "#db7093", "papayawhip": "#ffefd5", "peachpuff": "#ffdab9", "peru": "#cd853f",
    "pink": "#ffc0cb", "plum": "#dda0dd", "powderblue": "#b0e0e6", "purple": "#800080", "red": "#ff0000",
    "rosybrown": "#bc8f8f", "royalblue": "#4169e1", "saddlebrown": "#8b4513", "salmon": "#fa8072",
    "sandybrown": "#f4a460", "seagreen": "#2e8b57", "seashell": "#fff5ee", "sienna": "#a0522d",
    "silver": "#c0c0c0", "skyblue": "#87ceeb", "slateblue": "#6a5acd", "slategray": "#708090",
    "slategrey": "#708090", "snow": "#fffafa", "springgreen": "#00ff7f", "steelblue": "#4682b4",
    "tan": "#d2b48c", "teal": "#008080", "thistle": "#d8bfd8", "tomato": "#ff6347", "turquoise": "#40e0d0",
    "violet": "#ee82ee", "wheat": "#f5deb3", "white": "#ffffff", "whitesmoke": "#f5f5f5",
    "yellow": "#ffff00", "yellowgreen": "#9acd32",
}
"""The 147 CSS3/SVG colour names (138 distinct colours; gray/grey spellings and aqua/cyan, fuchsia/magenta)."""


def _hex_to_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def _css3_rgb_to_name() -> dict[tuple[int, int, int], str]:
    """Reverse CSS3 table as webcolors builds it: the later name wins, then the 'gray' spellings are forced."""
    table = {_hex_to_rgb(h): n for n, h in CSS3_NAMES_TO_HEX.items()}
    for name in ("darkgray", "darkslategray", "dimgray", "gray", "lightgray", "lightslategray", "slategray"):
        table[_hex_to_rgb(CSS3_NAMES_TO_HEX[name])] = name
    return table


_CSS3_BY_RGB = _css3_rgb_to_name()
_CSS21_RGB = [(name, _hex_to_rgb(h)) for name, h in CSS21_NAMES_TO_HEX.items()]


def css3_exact_name(rgb: Sequence[int]) -> str | None:
    """The CSS3 name of exactly this (r, g, b), or None (webcolors.rgb_to_name, spec CSS3)."""
    return _CSS3_BY_RGB.get(tuple(int(c) for c in rgb))


def nearest_css21_name(rgb: Sequence[int]) -> str:
    """The CSS 2.1 name nearest to `rgb` by squared distance; on a tie the later name in webcolors' order wins.

    The authors stored names in a dict keyed by distance while iterating CSS21_HEX_TO_NAMES, so a later
    name with the same distance overwrote an earlier one; we reproduce that (e.g. (64, 64, 64) -> gray).
    """
    r, g, b = (int(c) for c in rgb)
    best_name, best_distance = "", None
    for name, (rc, gc, bc) in _CSS21_RGB:
        distance = (rc - r) ** 2 + (gc - g) ** 2 + (bc - b) ** 2
        if best_distance is None or distance <= best_distance:
            best_name, best_distance = name, distance
    return best_name


def rgb_to_colour_name(rgb: Sequence[int]) -> str:
    """Exact CSS3 name if there is one (may be a non-CSS2.1 name such as dimgray), else the nearest CSS2.1 name."""
    return css3_exact_name(rgb) or nearest_css21_name(rgb)
