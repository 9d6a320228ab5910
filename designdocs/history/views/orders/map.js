// Every order in time order, for `couchrec tune` (loader/tuning/tune.py): key the timestamp,
// value [user_id or null, order_id, [item, ...]]. No reduce: read once per tuning run.
function (doc) {
  var items = (__LIB_order_items__)(doc);
  if (!items.length || typeof doc.timestamp !== "string") return;
  emit(doc.timestamp, [typeof doc.user_id === "string" ? doc.user_id : null, doc.order_id || doc._id, items]);
}
