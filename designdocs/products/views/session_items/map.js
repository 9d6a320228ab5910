// The items each session viewed: key session_id, value item (queried with keys=[...] and no reduce).
function (doc) {
  if (doc.log_type === "access" && typeof doc.item_id === "string" && typeof doc.session_id === "string") {
    emit(doc.session_id, doc.item_id);
  }
}
