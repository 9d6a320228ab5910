// Purchases and views per item per day: key [kind, year, month, day, item], kind
// "purchase" (one per order containing the item) or "view" (one per access).
// A window of days is startkey=[kind, y1, m1, d1]&endkey=[kind, y2, m2, d2, {}], group_level=5.
function (doc) {
  var t = doc.timestamp;
  if (typeof t !== "string" || t.length < 10) return;
  var day = [parseInt(t.substring(0, 4), 10), parseInt(t.substring(5, 7), 10), parseInt(t.substring(8, 10), 10)];
  var items = doc.log_type === "access" ? [doc.item_id] : (__LIB_order_items__)(doc);
  var kind = doc.log_type === "access" ? "view" : "purchase";
  for (var i = 0; i < items.length; i++) {
    if (typeof items[i] === "string") emit([kind, day[0], day[1], day[2], items[i]], 1);
  }
}
