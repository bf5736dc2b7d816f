"""The service's MongoDB repositories, one module per aggregate."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.store.deliveries import DeliveryStore, MongoDeliveries
from services.notifications.store.digests import DigestStore, MongoDigests
from services.notifications.store.directory import DirectoryStore, MongoDirectory
from services.notifications.store.occasions import (
    MongoOccasions,
    MongoReminders,
    OccasionStore,
    ReminderStore,
)
from shared.outbox import Outbox
from shared.storage import Document


@dataclass(frozen=True)
class Stores:
    directory: DirectoryStore
    occasions: OccasionStore
    reminders: ReminderStore
    deliveries: DeliveryStore
    digests: DigestStore


@dataclass(frozen=True)
class MongoStores(Stores):
    directory: MongoDirectory
    occasions: MongoOccasions
    reminders: MongoReminders
    deliveries: MongoDeliveries
    digests: MongoDigests

    @classmethod
    def of(cls, db: AsyncDatabase[Document], outbox: Outbox) -> MongoStores:
        return cls(
            directory=MongoDirectory(db),
            occasions=MongoOccasions(db),
            reminders=MongoReminders(db),
            deliveries=MongoDeliveries(db, outbox),
            digests=MongoDigests(db),
        )

    async def create_indexes(self) -> None:
        await self.directory.create_indexes()
        await self.occasions.create_indexes()
        await self.reminders.create_indexes()
        await self.deliveries.create_indexes()
        await self.digests.create_indexes()


__all__ = [
    "DeliveryStore",
    "DigestStore",
    "DirectoryStore",
    "MongoStores",
    "OccasionStore",
    "ReminderStore",
    "Stores",
]
