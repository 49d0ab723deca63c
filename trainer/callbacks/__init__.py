"""Callbacks: the base class and factory, and Keras's built-in callbacks, one module each.

Inline (they steer training, so they act at once): EarlyStopping, ReduceLROnPlateau,
LearningRateScheduler, TerminateOnNaN, History. Queued (they write or send, concurrently with
training): CSVLogger, JSONLinesLogger, RemoteMonitor, ProgbarLogger, and TensorBoard and
MLflowLogger (from the ``tensorboard`` and ``mlflow`` extras). Both (a consistent copy taken
inline, written on a queued lane): ModelCheckpoint, BackupAndRestore.
"""

from .backup_and_restore import BackupAndRestore
from .callback import HOOKS, Callback
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .jsonlines_logger import JSONLinesLogger
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .mlflow_logger import MLflowLogger
from .model_checkpoint import ModelCheckpoint
from .progbar_logger import ProgbarLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .remote_monitor import RemoteMonitor
from .subscriber import current_event
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "HOOKS",
    "current_event",
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "JSONLinesLogger",
    "LambdaCallback",
    "LearningRateScheduler",
    "MLflowLogger",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "TensorBoard",
    "TerminateOnNaN",
]
