"""What chat listens to: the operations its conversations started (sites.signals)."""

from chat.progress import on_operation_changed
from sites.signals import operation_changed


def connect() -> None:
    operation_changed.connect(on_operation_changed, dispatch_uid="chat.follow_operations")
