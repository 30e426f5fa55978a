"""Decoding and validating request bodies: pydantic (chosen) against msgspec.

Both validate the same body from bytes with types generated from the same
feature schema: pydantic with the service's own `HouseIn` (strict numbers,
whole-number and 0/1 checks, unknown keys refused), msgspec with Structs of
the same fields (`forbid_unknown_fields`, `Meta` bounds for binary features).
Prints microseconds per body for 1, 100 and 1,000 houses of the Boston data,
the two side by side in the same run.

    python benchmarks/validation.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import json
import timeit
from typing import Annotated, Any

import msgspec
from pydantic import TypeAdapter

from estimator.config import DataConfig
from estimator.data.sources import load
from estimator.schema import Schema
from estimator.validation import HouseRules


def msgspec_decoder(schema: Schema) -> msgspec.json.Decoder[Any]:
    """A decoder of a list of houses; fields are renamed, since names need not be identifiers."""
    fields: list[tuple[str, Any]] = []
    for j, f in enumerate(schema.features):
        kind: Any = str if f.kind == "categorical" else float
        if f.kind == "binary":
            kind = Annotated[float, msgspec.Meta(ge=0, le=1, multiple_of=1)]
        elif f.kind == "integer":
            kind = Annotated[float, msgspec.Meta(multiple_of=1)]
        fields.append((f"f{j}", kind))
    house = msgspec.defstruct("HouseIn", fields, forbid_unknown_fields=True,
                              rename={f"f{j}": f.name for j, f in enumerate(schema.features)})
    return msgspec.json.Decoder(list[house])  # type: ignore[valid-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    dataset = load(DataConfig(source="boston"))
    rows = dataset.frame.to_dict("records")
    pydantic_body: TypeAdapter[Any] = TypeAdapter(list[HouseRules(dataset.schema).house])  # type: ignore[name-defined]
    decoder = msgspec_decoder(dataset.schema)
    print(f"{'houses':>7}{'pydantic us':>13}{'msgspec us':>12}{'ratio':>7}")
    for n in (1, 100, 1000):
        body = json.dumps(rows[:n]).encode()
        number = max(5, args.repeat // n)
        ours = timeit.timeit(lambda b=body: pydantic_body.validate_json(b), number=number)
        theirs = timeit.timeit(lambda b=body: decoder.decode(b), number=number)
        print(f"{n:>7}{ours / number * 1e6:>13.1f}{theirs / number * 1e6:>12.1f}"
              f"{ours / theirs:>7.1f}")


if __name__ == "__main__":
    main()
