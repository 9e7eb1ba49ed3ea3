"""Broker transports: how job messages travel from the API to the workers."""

from flickrhub_core.broker.base import Broker, Consumer, Delivery, Handler
from flickrhub_core.broker.memory import MemoryBroker

__all__ = ["Broker", "Consumer", "Delivery", "Handler", "MemoryBroker"]
