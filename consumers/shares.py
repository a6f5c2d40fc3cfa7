"""From a polled batch to what the worker applies: each site's share of each partition.

Each Kafka record is decoded once (collector.records.decode_batch, either version) into its
visitor and its events' arrays, with no object per event. A batch record's events share its
site and its one offset, so a record is kept or dropped whole. Records that cannot count
(damaged, or of a site not in the config) are set aside for the dead-letter topic.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from collector.records import EventRow, decode_batch
from collector.schema import SchemaError
from snippet.sites import Sites

Poison = tuple[ConsumerRecord[bytes, bytes], str]  # (record, reason)


@dataclass(slots=True)
class Share:
    """One site's records from one partition of a batch, in offset order."""

    site: str
    tp: TopicPartition
    offsets: list[int] = field(default_factory=list)  # one per record, ascending
    batches: list[tuple[str, list[EventRow]]] = field(default_factory=list)  # visitor, events
    skip: set[str] = field(default_factory=set)  # ids Redis reported as seen

    def drop_upto(self, mark: int) -> None:
        """Forget the records at or below offset `mark`."""
        if self.offsets and self.offsets[0] <= mark:
            cut = bisect.bisect_right(self.offsets, mark)
            del self.offsets[:cut], self.batches[:cut]


@dataclass(slots=True)
class Part:
    """One partition's messages of a poll, decoded.

    `epoch` is the partition's seek count when it was polled: a partition sought since (its
    records are read again from Redis's watermark) or taken away must not apply these."""

    tp: TopicPartition
    epoch: int
    shares: list[Share]
    poison: list[Poison]
    next_offset: int  # the offset to commit once applied


def decode(
    tp: TopicPartition, messages: list[ConsumerRecord[bytes, bytes]], sites: Sites, epoch: int
) -> Part:
    by_site: dict[str, Share] = {}
    poison: list[Poison] = []
    for msg in messages:
        try:
            site, visitor, events = decode_batch(msg.value)
        except SchemaError as exc:
            poison.append((msg, exc.reason))
            continue
        share = by_site.get(site)
        if share is None:
            if sites.get(site) is None:
                poison.append((msg, "unknown_site"))
                continue
            share = by_site[site] = Share(site, tp)
        share.offsets.append(msg.offset)
        share.batches.append((visitor, events))
    return Part(tp, epoch, list(by_site.values()), poison, messages[-1].offset + 1)
