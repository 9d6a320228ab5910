// What each signed-in user bought: key [user_id, item], value 1 per order.
function (doc) {
  if (typeof doc.user_id !== "string") return;
  var items = (__LIB_order_items__)(doc);
  for (var i = 0; i < items.length; i++) emit([doc.user_id, items[i]], 1);
}
