"""Score model.safetensors on data/test.csv; write metrics.json (rounded, so equal models give equal files)."""
import json

import torch

from model import load_csv, load_safetensors, network


def main() -> None:
    tensors, meta = load_safetensors("model.safetensors")
    net = network(int(meta["features"]), int(meta["hidden"]))
    net.load_state_dict(tensors)
    x, y = load_csv("data/test.csv")
    with torch.no_grad():
        pred = net(x)
    mse = torch.mean((pred - y) ** 2).item()
    mae = torch.mean(torch.abs(pred - y)).item()
    r2 = 1 - mse / torch.var(y, unbiased=False).item()
    metrics = {"test": {"mse": round(mse, 6), "mae": round(mae, 6), "r2": round(r2, 6)}}
    with open("metrics.json", "w") as handle:
        json.dump(metrics, handle, indent=2, sort_keys=True)
        handle.write("\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
