"""Ready-made models and a builder from a short text spec.

lenet5(): the classic LeNet-5 on 32x32 inputs (tanh, average pooling, 6-16-120-84-10).
fashion_cnn(): Conv32-BN-ReLU-MaxPool, Conv64-BN-ReLU-MaxPool, Linear128-ReLU-Dropout, Linear10.
from_spec("conv32k3p1-bn-relu-maxpool2-flatten-fc10", in_channels=1).
"""
import re

from . import nn

LAYER_TYPES = {cls.__name__: cls for cls in (
    nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Linear, nn.Flatten, nn.ReLU, nn.LeakyReLU,
    nn.Sigmoid, nn.Tanh, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout)}


def lenet5(num_classes=10, in_channels=1, batch_norm=False, activation="tanh", pool="avg",
           dropout=0.0):
    """LeNet-5 for (N, in_channels, 32, 32) inputs; options for the ablation study."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    Pool = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[pool]
    layers = [nn.Conv2d(in_channels, 6, 5)]
    layers += [nn.BatchNorm2d(6)] if batch_norm else []
    layers += [act(), Pool(2), nn.Conv2d(6, 16, 5)]
    layers += [nn.BatchNorm2d(16)] if batch_norm else []
    layers += [act(), Pool(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120)]
    layers += [nn.BatchNorm1d(120)] if batch_norm else []
    layers += [act()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(120, 84)]
    layers += [nn.BatchNorm1d(84)] if batch_norm else []
    layers += [act()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(84, num_classes)]
    return nn.Sequential(*layers)


def fashion_cnn(num_classes=10, in_channels=1, batch_norm=True, dropout=0.5, image_size=28):
    """Two conv blocks and two Linear layers for (N, in_channels, 28, 28) inputs."""
    s = image_size // 4
    layers = [nn.Conv2d(in_channels, 32, 3, padding=1)]
    layers += [nn.BatchNorm2d(32)] if batch_norm else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1)]
    layers += [nn.BatchNorm2d(64)] if batch_norm else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * s * s, 128), nn.ReLU()]
    layers += [nn.Dropout(dropout), nn.Linear(128, num_classes)]  # keys match PyTorch's model
    return nn.Sequential(*layers)


MODELS = {"lenet5": lenet5, "fashion_cnn": fashion_cnn}

_TOKEN = re.compile(r"^(conv|fc|linear|maxpool|avgpool|bn|relu|leakyrelu|tanh|sigmoid|dropout|flatten)(.*)$")


def from_spec(spec, in_channels=1):
    """Build a Sequential from dash-separated tokens, tracking channels so none are typed twice:

    conv<out>[k<k>][s<s>][p<p>]  (default k3, s1, p k//2) · maxpool<k> / avgpool<k> (default 2)
    bn · relu · leakyrelu · tanh · sigmoid · dropout<p> (default 0.5) · flatten · fc<out>
    e.g. "conv32-bn-relu-maxpool-conv64-bn-relu-maxpool-flatten-fc128-relu-dropout-fc10".
    Linear layers infer in_features from the first input; BatchNorm picks 1d/2d by position.
    """
    layers, channels, flat = [], in_channels, False
    for tok in spec.lower().replace(" ", "").split("-"):
        m = _TOKEN.match(tok)
        if not m:
            raise ValueError(f"from_spec: cannot parse token {tok!r} in {spec!r}")
        kind, rest = m.groups()
        if kind == "conv":
            m2 = re.fullmatch(r"(\d+)(?:k(\d+))?(?:s(\d+))?(?:p(\d+))?", rest)
            if not m2:
                raise ValueError(f"from_spec: bad conv token {tok!r} (e.g. conv32k3s1p1)")
            out, k, s, p = m2.groups()
            k = int(k or 3)
            layers.append(nn.Conv2d(channels, int(out), k, stride=int(s or 1),
                                    padding=int(p) if p is not None else k // 2))
            channels = int(out)
        elif kind in ("fc", "linear"):
            if not flat:
                layers.append(nn.Flatten())
                flat = True
            layers.append(nn.Linear(None, int(rest)))
            channels = int(rest)
        elif kind in ("maxpool", "avgpool"):
            k = int(rest or 2)
            layers.append((nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(k))
        elif kind == "bn":
            layers.append((nn.BatchNorm1d if flat else nn.BatchNorm2d)(channels))
        elif kind == "dropout":
            layers.append(nn.Dropout(float(rest) if rest else 0.5))
        elif kind == "flatten":
            layers.append(nn.Flatten())
            flat = True
        else:
            layers.append({"relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "tanh": nn.Tanh,
                           "sigmoid": nn.Sigmoid}[kind]())
    return nn.Sequential(*layers)


def get_architecture(model):
    """JSON-ready description of a Sequential model (layer types and constructor args)."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"get_architecture: only Sequential models can be described; got {type(model).__name__}")
    out = []
    for layer in model:
        name = type(layer).__name__
        if name not in LAYER_TYPES:
            raise TypeError(f"get_architecture: layer type {name} cannot be saved")
        out.append({"type": name, "config": layer.get_config()})
    return {"type": "Sequential", "layers": out}


def from_architecture(arch):
    """Rebuild a model from get_architecture()'s output (validated: unknown types raise)."""
    if not isinstance(arch, dict) or arch.get("type") != "Sequential" or not isinstance(arch.get("layers"), list):
        raise ValueError("architecture must be {'type': 'Sequential', 'layers': [...]}")
    layers = []
    for i, spec in enumerate(arch["layers"]):
        if not isinstance(spec, dict) or spec.get("type") not in LAYER_TYPES:
            raise ValueError(f"architecture layer {i}: unknown layer type {spec.get('type') if isinstance(spec, dict) else spec!r}")
        cfg = spec.get("config", {})
        if not isinstance(cfg, dict):
            raise ValueError(f"architecture layer {i}: config must be a dict")
        try:
            layers.append(LAYER_TYPES[spec["type"]](**cfg))
        except TypeError as exc:
            raise ValueError(f"architecture layer {i} ({spec['type']}): bad config {cfg}: {exc}") from None
    return nn.Sequential(*layers)
