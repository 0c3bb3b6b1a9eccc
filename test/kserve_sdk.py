"""KServe's SDK, run in a process of its own by the tests that use it.

The SDK and tritonclient.grpc each register the Open Inference Protocol's messages (package
`inference`, from two different .proto files) in protobuf's default pool, and protobuf refuses
the second: one process cannot import both. So the tests run the SDK here:

    python -m test.kserve_sdk load KIND < object.json   # the object in the SDK's generated model
    python -m test.kserve_sdk rest URL MODEL            # InferenceRESTClient, protocols v1 and v2
    python -m test.kserve_sdk grpc HOST:PORT MODEL      # InferenceGRPCClient

Each prints one JSON document.
"""
from __future__ import annotations

import asyncio
import json
import re
import sys


def load(data, kind: str):
    """data loaded into the kserve SDK's generated model `kind`; an unknown field is an error
    (the generated deserializer would drop it silently), a missing required one fails in the model."""
    import kserve
    import kubernetes.client

    def step(value, type_name: str, where: str):
        if value is None:
            return None
        if type_name.lower().startswith("list["):
            return [step(v, type_name[5:-1], f"{where}[{i}]") for i, v in enumerate(value)]
        mapping = re.match(r"(?i)dict[(\[]([^,]*), (.*)[)\]]$", type_name)
        if mapping:
            return {k: step(v, mapping.group(2), f"{where}.{k}") for k, v in value.items()}
        if type_name in ("str", "int", "bool", "float", "object", "datetime"):
            return value
        cls = getattr(kserve, type_name, None) or getattr(kubernetes.client, type_name)
        fields = {json_name: attr for attr, json_name in cls.attribute_map.items()}
        unknown = set(value) - set(fields)
        assert not unknown, f"{where}: {type_name} has no field {sorted(unknown)}"
        return cls(**{fields[k]: step(v, cls.openapi_types[fields[k]], f"{where}.{k}") for k, v in value.items()})

    return step(data, kind, kind)


async def rest(url: str, model: str) -> dict:
    import numpy as np
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    found = {}
    for protocol in ("v1", "v2"):
        client = InferenceRESTClient(RESTConfig(protocol=protocol, timeout=10))
        found[protocol] = {"live": await client.is_server_live(url), "model": await client.is_model_ready(url, model)}
        if protocol == "v2":  # KServe's V1 has no server-ready endpoint (the SDK refuses to ask)
            found[protocol]["ready"] = await client.is_server_ready(url)
        if protocol == "v1":
            found["v1 infer"] = await client.infer(url, {"instances": [[1.0, 2.0, 3.0, 4.0]]}, model_name=model)
        else:
            tensor = InferInput("input", [2, 4], "FP64")
            tensor.set_data_from_numpy(np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 0.0]]), binary_data=False)
            response = await client.infer(url, InferRequest(model_name=model, infer_inputs=[tensor]), model_name=model)
            found["v2 infer"] = response.outputs[0].as_numpy().tolist()
        await client.close()
    return found


async def grpc(target: str, model: str) -> dict:
    import numpy as np
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    client = InferenceGRPCClient(target, timeout=10)
    found = {"live": await client.is_server_live(), "ready": await client.is_server_ready(),
             "model": await client.is_model_ready(model)}
    tensors = [InferInput("area", [2], "FP64"), InferInput("rooms", [2], "INT64"), InferInput("city", [2], "BYTES")]
    tensors[0].set_data_from_numpy(np.array([70.5, 20.0]))
    tensors[1].set_data_from_numpy(np.array([3, 1], dtype=np.int64))
    tensors[2].set_data_from_numpy(np.array([b"Graz", b"Wien"], dtype=object))
    response = await client.infer(InferRequest(model_name=model, infer_inputs=tensors))
    found["infer"] = response.outputs[0].as_numpy().tolist()
    await client.close()
    return found


def main(argv: list[str]) -> None:
    if argv[0] == "load":
        try:
            print(json.dumps({"loaded": load(json.load(sys.stdin), argv[1]).to_dict(), "error": None}, default=str))
        except (AssertionError, ValueError) as exc:
            kind = "AssertionError" if isinstance(exc, AssertionError) else "ValueError"  # pydantic's are ValueErrors
            print(json.dumps({"loaded": None, "error": [kind, str(exc)]}))
    else:
        print(json.dumps(asyncio.run({"rest": rest, "grpc": grpc}[argv[0]](*argv[1:]))))


if __name__ == "__main__":
    main(sys.argv[1:])
