// Orders containing each item: key item, value 1 (n_a).
function (doc) {
  var items = (__LIB_order_items__)(doc);
  for (var i = 0; i < items.length; i++) emit(items[i], 1);
}
