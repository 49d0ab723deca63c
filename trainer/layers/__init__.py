"""Layers with Keras 3's names, parameters and defaults, and the registry that rebuilds them from config."""

from __future__ import annotations

from trainer.layers.activation import Activation
from trainer.layers.average_pooling1d import AveragePooling1D
from trainer.layers.average_pooling2d import AveragePooling2D
from trainer.layers.batch_normalization import BatchNormalization
from trainer.layers.conv1d import Conv1D
from trainer.layers.conv2d import Conv2D
from trainer.layers.dense import Dense
from trainer.layers.dropout import Dropout
from trainer.layers.embedding import Embedding
from trainer.layers.flatten import Flatten
from trainer.layers.global_average_pooling1d import GlobalAveragePooling1D
from trainer.layers.global_average_pooling2d import GlobalAveragePooling2D
from trainer.layers.global_max_pooling1d import GlobalMaxPooling1D
from trainer.layers.global_max_pooling2d import GlobalMaxPooling2D
from trainer.layers.input_layer import Input, InputLayer
from trainer.layers.layer import Layer
from trainer.layers.layer_normalization import LayerNormalization
from trainer.layers.max_pooling1d import MaxPooling1D
from trainer.layers.max_pooling2d import MaxPooling2D
from trainer.layers.registry import CLASSES, deserialize, register_built_in, register_serializable, serialize
from trainer.layers.reshape import Reshape

__all__ = [
    "Layer",
    "Input",
    "InputLayer",
    "Dense",
    "Activation",
    "Dropout",
    "Flatten",
    "Reshape",
    "Conv1D",
    "Conv2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "BatchNormalization",
    "LayerNormalization",
    "Embedding",
    "CLASSES",
    "register_serializable",
    "serialize",
    "deserialize",
]

register_built_in(
    InputLayer, Dense, Activation, Dropout, Flatten, Reshape, Conv1D, Conv2D, MaxPooling1D, MaxPooling2D,
    AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, BatchNormalization, LayerNormalization, Embedding,
)
