// Product page accesses per item: key item, value 1.
function (doc) {
  if (doc.log_type === "access" && typeof doc.item_id === "string") emit(doc.item_id, 1);
}
