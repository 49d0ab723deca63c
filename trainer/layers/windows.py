"""Sliding windows over the spatial axes of channels-last batches, shared by convolutions and pooling.

Everything works on 4-d arrays `(batch, rows, cols, channels)`; a 1-d layer views its
`(batch, steps, channels)` inputs as one row. `gather` copies every window at once out of a
`sliding_window_view` (im2col); `offsets` gives, for each position in the window, the strided
slice of the input it sees at every output position, so that pooling and gradients work with one
whole-array operation per window position (`kernel_rows * kernel_cols` of them, never a loop over pixels).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from trainer.layers.layer import Shape

__all__ = [
    "Padding", "normalize_tuple", "normalize_padding", "check_spatial_input", "as_2d", "same_padding", "output_length",
    "Windows",
]

Padding = tuple[tuple[int, int], tuple[int, int]]
"""(before, after) for rows, then for cols."""


def normalize_tuple(owner: str, argument: str, value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """`value` as `rank` positive integers (an int is repeated), else a ValueError naming the argument."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if (
        not isinstance(values, (tuple, list))
        or len(values) != rank
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in values)
    ):
        raise ValueError(f"{owner} `{argument}` must be a positive integer or a tuple of {rank}, got {value!r}.")
    return tuple(int(v) for v in values)


def normalize_padding(owner: str, padding: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{owner} `padding` must be 'valid' or 'same', got {padding!r}.")
    return padding.lower()


def check_spatial_input(owner: str, name: str, rank: int, input_shape: Shape) -> None:
    """Refuse anything but (batch, *rank known spatial sizes, known channels)."""
    if len(input_shape) != rank + 2 or None in input_shape[1:]:
        axes = "steps" if rank == 1 else "rows, cols"
        raise ValueError(
            f"{owner} {name!r} expects inputs of shape (batch, {axes}, channels) with known sizes, got {input_shape}."
        )


def as_2d(values: tuple[int, ...]) -> tuple[int, int]:
    """A 1-d layer's (size,) as the (1, size) of one row."""
    return (1, values[0]) if len(values) == 1 else (values[0], values[1])


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras's "same" padding of one axis: the output has ceil(size / stride) positions; an odd total
    puts the extra pixel at the end."""
    effective = (kernel - 1) * dilation + 1
    if stride == 1:
        total = effective - 1
    else:
        total = max(0, (-(-size // stride) - 1) * stride + effective - size)
    return total // 2, total - total // 2


def output_length(size: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    """Positions along one axis; None stays None. Raises when a "valid" window does not fit."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    if size < effective:
        raise ValueError(f"An input of length {size} is shorter than the window ({effective}) with padding='valid'.")
    return (size - effective) // stride + 1


class Windows:
    """The geometry of one layer's windows over inputs of a fixed spatial shape.

    `gather(padded)` returns `(n, out_rows, out_cols, kernel_rows, kernel_cols, channels)`, written
    into a buffer kept for the largest batch seen.
    """

    def __init__(
        self,
        input_shape: Shape,
        kernel: tuple[int, int],
        strides: tuple[int, int],
        dilation: tuple[int, int],
        padding: str,
    ) -> None:
        _, rows, cols, channels = input_shape
        assert rows is not None and cols is not None and channels is not None  # checked by the layers' build
        self.rows, self.cols, self.channels = rows, cols, channels
        self.kernel, self.strides, self.dilation = kernel, strides, dilation
        self.pads: Padding = (
            (same_padding(rows, kernel[0], strides[0], dilation[0]), same_padding(cols, kernel[1], strides[1], dilation[1]))
            if padding == "same"
            else ((0, 0), (0, 0))
        )
        out_rows = output_length(rows, kernel[0], strides[0], dilation[0], padding)
        out_cols = output_length(cols, kernel[1], strides[1], dilation[1], padding)
        assert out_rows is not None and out_cols is not None
        self.out_rows, self.out_cols = out_rows, out_cols
        self.padded_rows = rows + sum(self.pads[0])
        self.padded_cols = cols + sum(self.pads[1])
        self._gathered = np.empty((0, out_rows, out_cols, kernel[0], kernel[1], channels), np.float32)

    @property
    def padded(self) -> bool:
        return any(self.pads[0]) or any(self.pads[1])

    @property
    def symmetric(self) -> bool:
        return all(before == after for before, after in self.pads)

    def _slices(self, i: int, j: int) -> tuple[slice, slice]:
        """The input rows and cols that kernel offset (i, j) sees, one per output position."""
        row = i * self.dilation[0]
        col = j * self.dilation[1]
        return (
            slice(row, row + self.strides[0] * (self.out_rows - 1) + 1, self.strides[0]),
            slice(col, col + self.strides[1] * (self.out_cols - 1) + 1, self.strides[1]),
        )

    def offsets(self) -> Iterator[tuple[int, int, tuple[slice, slice, slice, slice]]]:
        """(i, j, index) for each kernel offset, in row-major order: `padded[index]` is what offset (i, j)
        sees at every output position, shaped (n, out_rows, out_cols, channels)."""
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                rows, cols = self._slices(i, j)
                yield i, j, (slice(None), rows, cols, slice(None))

    def gather(self, padded: np.ndarray) -> np.ndarray:
        """Every window of `padded` (n, padded_rows, padded_cols, channels); a view of a reused buffer."""
        n = len(padded)
        if len(self._gathered) < n:
            self._gathered = np.empty((n, *self._gathered.shape[1:]), padded.dtype)
        out = self._gathered[:n]
        spans = [(k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation)]
        windows = sliding_window_view(padded, spans, axis=(1, 2))  # (n, rows', cols', channels, span_r, span_c)
        windows = windows[:, :: self.strides[0], :: self.strides[1], :, :: self.dilation[0], :: self.dilation[1]]
        np.copyto(out, windows[:, : self.out_rows, : self.out_cols].transpose(0, 1, 2, 4, 5, 3))
        return out

    def unpad(self, padded: np.ndarray) -> np.ndarray:
        """The part of a padded-input-shaped array that lies over the real input."""
        (top, _), (left, _) = self.pads
        return padded[:, top : top + self.rows, left : left + self.cols, :]
