"""The bundled behaviour signatures: one :class:`~..base.Signature` subclass per module.

Module names start with the signature's category so a listing reads by tactic. Every rule
is run by :func:`aasee.processing.signatures.run_signatures`; see ``engine.py`` for how they
are loaded and checked.
"""
