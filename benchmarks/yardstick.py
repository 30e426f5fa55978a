"""The yardstick of `serving.py`: the route a FastAPI user would write first.

The body is declared as a typed list of houses and validated by FastAPI,
and the answer is a constant, so it costs what parsing, validating and
answering cost and nothing more: no model. Served on its own by uvicorn:

    uvicorn benchmarks.yardstick:app --port 8000
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="yardstick")


@app.post("/v1/services/predict")
async def predict(houses: list[dict[str, float | int | str | None]]) -> dict[str, bool]:
    """Validates the houses like a typed route, answers a constant."""
    return {"ok": True}
