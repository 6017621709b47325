"""Words for readers, in Chinese and English.

Everything a planner reads that carbonmap writes — layer titles, map groups, units, headings —
comes from two data tables in ``carbonmap/data/words/``: ``words.csv`` (key, en, zh, with
``{field}`` placeholders) and ``units.csv`` (the unit keys of column and layer names, e.g.
``t_co2_yr``, as a reader writes them). Column labels come from the column dictionary
(:mod:`carbonmap.columns`), class names from the code tables (:mod:`carbonmap.landuse`).

A :class:`Text` holds one string in both languages; outputs pick one with
:meth:`Text.in_` and the run's ``[outputs] language``.

Examples
--------
>>> words("layer.ecological_patches", area=1).in_("zh")
'1 公顷以上生态斑块'
>>> unit_label("t_co2_ha_yr", "en")
't CO2/ha/yr'
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

import pandas as pd

__all__ = ["LANGUAGES", "Text", "as_text", "text_in", "words", "listed", "step_words", "unit_label", "group_label"]

#: The languages of the outputs: Chinese and English.
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Text:
    """A reader-facing string in both languages (``str()`` gives the English)."""

    en: str
    zh: str

    def in_(self, language: str) -> str:
        """The text in `language` (one of :data:`LANGUAGES`)."""
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}: use one of {LANGUAGES}")
        return self.zh if language == "zh" else self.en

    def __str__(self) -> str:
        return self.en

    @classmethod
    def same(cls, text: str) -> Text:
        """A text that reads the same in both languages (a user's own title, a name)."""
        return cls(text, text)


def text_in(value: str | Text, language: str) -> str:
    """`value` in `language`: a :class:`Text`'s own, or a plain string as it is."""
    return value.in_(language) if isinstance(value, Text) else str(value)


def as_text(value: str | Text) -> Text:
    """`value` as a :class:`Text`: a text as it is, a plain string the same in both languages
    (a project file's ``title``, one string or one per language)."""
    return value if isinstance(value, Text) else Text.same(value)


@functools.cache
def _table(name: str) -> pd.DataFrame:
    with files("carbonmap.data").joinpath("words", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False).set_index("key")


def words(key: str, **fields: object) -> Text:
    """The text of `key` in ``words.csv``, its ``{field}`` placeholders filled with `fields`.

    Numbers are written as people write them: whole numbers without decimals. A :class:`Text`
    field fills each language with its own (a scenario's title in both languages).
    """
    row = _table("words.csv").loc[key]
    shown = {name: _plain(value) for name, value in fields.items()}

    def filled(language: str) -> str:
        return row[language].format(**{name: text_in(value, language) if isinstance(value, Text) else value
                                       for name, value in shown.items()})

    return Text(filled("en"), filled("zh"))


def listed(texts: Iterable[str | Text]) -> Text:
    """Texts one after another: "a, b, c" in English, "a、b、c" in Chinese (a list of items in a note)."""
    texts = [as_text(text) for text in texts]
    return Text(", ".join(t.en for t in texts), "、".join(t.zh for t in texts))


def step_words(name: str) -> Text:
    """What the progress calls step `name` of a long stage: ``step.<name>`` of ``words.csv``, or the
    name as it is."""
    return words(f"step.{name}") if f"step.{name}" in _table("words.csv").index else Text.same(name)


def _plain(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        return f"{value:g}"
    return value


def unit_label(unit: str, language: str) -> str:
    """How a reader writes the unit key `unit` (``t_co2_yr`` -> ``t CO2/yr`` or ``吨CO₂/年``);
    an unknown key is shown as it is."""
    table = _table("units.csv")
    return table.at[unit, language] if unit in table.index else unit


def group_label(group: str, language: str) -> str:
    """The name of a map group (:data:`carbonmap.stage.GROUPS`) in `language`."""
    return words(f"group.{group}").in_(language)
