"""The themes of a run: for each, a *prepare* step and a *stage*.

Each module here joins one theme's analysis (pure functions in :mod:`carbonmap.emissions`,
:mod:`carbonmap.stocks`, :mod:`carbonmap.landscape`, ...) to the run:

- ``prepare_*`` turns a project-file section (or the command line's options, which build
  the same section) into the analysis's inputs; it is the only place the theme reads files;
- ``*_tables`` / ``*_layer`` shape results for output, shared by the stage and the CLI;
- the stage (a :class:`carbonmap.stage.Stage`) prepares, analyses and publishes layers,
  tables and per-unit summary columns, and returns the theme's typed result for later stages.

:mod:`carbonmap.pipeline` lists the stages in order and runs them.
"""
