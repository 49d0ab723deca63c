"""The text of `model.summary()`: Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainer.model import Sequential

__all__ = ["format_summary", "readable_size"]

_FLOAT32_BYTES = 4


def readable_size(num_bytes: int) -> str:
    """`72.00 B`, `1.21 MB`: powers of 1024, two decimals, as Keras prints memory."""
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _shape_text(model: Sequential, index: int) -> str:
    layer = model.layers[index]
    return str(layer.output_shape) if layer.built else "?"


def format_summary(model: Sequential, line_length: int | None = None, positions: list[float] | None = None) -> str:
    """The summary table as one string (no trailing newline)."""
    line_length = line_length or 78
    positions = positions or [0.45, 0.78, 1.0]
    ends = [int(line_length * p) for p in positions]
    widths = [ends[0]] + [b - a for a, b in zip(ends, ends[1:])]
    rows = [
        (f"{layer.name} ({type(layer).__name__})", _shape_text(model, i), f"{layer.count_params():,}")
        for i, layer in enumerate(model.layers)
    ]

    def cells(values: tuple[str, str, str], bar: str) -> str:
        padded = [f" {values[0]:<{widths[0] - 1}}", f" {values[1]:<{widths[1] - 1}}", f"{values[2]:>{widths[2] - 1}} "]
        return bar + bar.join(p[:w] for p, w in zip(padded, widths)) + bar

    def rule(left: str, middle: str, right: str, fill: str) -> str:
        return left + middle.join(fill * w for w in widths) + right

    lines = [f'Model: "{model.name}"', rule("┏", "┳", "┓", "━"), cells(("Layer (type)", "Output Shape", "Param #"), "┃"),
             rule("┡", "╇", "┩", "━")]
    for index, row in enumerate(rows):
        if index:
            lines.append(rule("├", "┼", "┤", "─"))
        lines.append(cells(row, "│"))
    lines.append(rule("└", "┴", "┘", "─"))
    lines += _totals(model)
    return "\n".join(lines)


def _totals(model: Sequential) -> list[str]:
    trainable = sum(w.size for w in model.trainable_weights)
    total = model.count_params()
    optimizer_params = 0
    if model.optimizer is not None and model.optimizer.built:
        optimizer_params = sum(v.size for v in model.optimizer.get_state().values())
    lines = [
        f" Total params: {total + optimizer_params:,} ({readable_size((total + optimizer_params) * _FLOAT32_BYTES)})",
        f" Trainable params: {trainable:,} ({readable_size(trainable * _FLOAT32_BYTES)})",
        f" Non-trainable params: {total - trainable:,} ({readable_size((total - trainable) * _FLOAT32_BYTES)})",
    ]
    if optimizer_params:
        lines.append(f" Optimizer params: {optimizer_params:,} ({readable_size(optimizer_params * _FLOAT32_BYTES)})")
    return lines
