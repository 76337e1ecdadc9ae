"""The tools: the `mlfeedback` command line and what only it uses.

`cli` is the command line; `recipecheck` checks recipes offline against GDK's
schemas (in `schemas/`) and the nucleus's rules, `convert` turns a v1 connector
definition into v2 configuration, `packaging` builds the component's artifact
as `gdk component build` does, `explain` says what to do about a failed
deployment, and `demo/` runs the whole feedback loop on one machine.

May import any layer of greengrass_local; no layer imports `tools`.
"""
