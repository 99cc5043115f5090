# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
import logging

from mmengine.logging import MMLogger


def logged_messages(function) -> str:
    """What ``function()`` logs to mmengine's current logger, one message a
    line."""
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        function()
    finally:
        logger.removeHandler(handler)
    return '\n'.join(records)
