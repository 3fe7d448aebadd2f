"""Train the network on data/train.csv with params.json; write model.safetensors.

Deterministic: fixed seed, one thread, deterministic kernels, full-batch
updates. Running it twice on the same inputs writes the same bytes, which is
what lets git-model tell "retrained, same model" from "new model".
"""
import json

import torch

from model import load_csv, network, save_safetensors


def main() -> None:
    params = json.load(open("params.json"))
    torch.manual_seed(params["seed"])
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x, y = load_csv("data/train.csv")
    net = network(x.shape[1], params["hidden"])
    optimizer = torch.optim.Adam(net.parameters(), lr=params["lr"])
    for epoch in range(1, params["epochs"] + 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        if epoch % 100 == 0 or epoch == params["epochs"]:
            print(f"epoch {epoch:4d}  train mse {loss.item():.5f}")
    meta = {"features": str(x.shape[1]), "hidden": str(params["hidden"])}
    save_safetensors(net.state_dict(), "model.safetensors", meta)


if __name__ == "__main__":
    main()
