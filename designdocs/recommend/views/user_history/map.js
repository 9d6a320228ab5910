// What each signed-in user bought, and when: key [user_id, item], value the order's day
// (days since 1970-01-01, UTC). Reduced by _stats, a group=true range over [user_id] gives
// per item: count (orders that held it), min / max (first / last day bought).
function (doc) {
  if (typeof doc.user_id !== "string" || typeof doc.timestamp !== "string") return;
  var items = (__LIB_order_items__)(doc);
  if (!items.length) return;
  var t = doc.timestamp;
  var day = Date.UTC(+t.substr(0, 4), +t.substr(5, 2) - 1, +t.substr(8, 2)) / 86400000;
  for (var i = 0; i < items.length; i++) emit([doc.user_id, items[i]], day);
}
