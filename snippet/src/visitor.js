/*
 * The persistent visitor id, shipped only when the site opts in (persist_visitor = true): 128
 * random bits kept in first-party localStorage and sent as the batch's "vid", from which the
 * collector derives a visitor that lasts across days (collector/visitor.py). Without it the tag
 * stores no id and the collector's visitor rotates daily.
 * The id is read (or made) only as a batch is sent, by JSON.stringify calling toJSON: held by
 * consent mode, nothing is sent and so nothing stored before consent. Storage that throws
 * (disabled, full) makes toJSON return undefined, which leaves "vid" out of the batch.
 */
__MICROCV_MODULE__(() => {
  let key = STORE + ':v';
  visitor = {toJSON: guard(() => localStorage[key] ||= uid())};
});
