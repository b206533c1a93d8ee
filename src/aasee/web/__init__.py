"""The web layer: REST API (``/api/v1``), server-rendered UI, OpenAPI docs, all behind tokens.

``create_app(settings)`` in ``app.py`` builds the ASGI application; it talks to the service
only through ``aasee.service.facade.TaskService``.
"""
