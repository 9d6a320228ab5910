// The sessions that viewed each item: key [item, session_id]. With session_items this
// gives "also viewed": a map sees one access at a time, so the pairs are joined at query time.
function (doc) {
  if (doc.log_type === "access" && typeof doc.item_id === "string" && typeof doc.session_id === "string") {
    emit([doc.item_id, doc.session_id], 1);
  }
}
