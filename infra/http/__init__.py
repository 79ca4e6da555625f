"""The HTTP side's generic parts, on FastAPI: dependencies, error answers, security headers, health, metrics and
the AsyncAPI page. The composition root (`hub.http`) assembles them with each consumer's `APIRouter`.

Routers take what they need through `Annotated` dependency aliases (`infra.http.deps`): the composition root
`provide`s each service once, a route names it by its alias (`Session`, `Engine`, ...).
"""
