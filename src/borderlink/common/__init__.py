"""borderlink.common — the bottom layer: what every other package shares, importing nothing of ours.

It holds the root of every borderlink error (:mod:`.errors`), the exit codes and environment
defaults of every command (:mod:`.cli`), log formatting for ``main`` (:mod:`.logs`) and the
garbage-collector setting of long-running services (:mod:`.runtime`). Nothing else belongs
here: domain code lives in the package whose job it is.
"""
