// The number of orders (N) under "orders"; orders too large to pair in full under "capped_baskets".
function (doc) {
  var items = (__LIB_order_items__)(doc);
  if (!items.length) return;
  emit("orders", 1);
  if ((__LIB_paired_items__)(items).length < items.length) emit("capped_baskets", 1);
}
