// One row per page view: key [page_type, year, month, day, hour] (UTC), value the
// generation time in ms. group_level 1, 4 and 5 give per type, per day, per hour.
function (doc) {
  if (doc.log_type !== "page_view" || typeof doc.generation_time !== "number") return;
  var t = doc.timestamp;
  if (typeof doc.page_type !== "string" || typeof t !== "string" || t.length < 13) return;
  emit([
    doc.page_type,
    parseInt(t.substring(0, 4), 10),
    parseInt(t.substring(5, 7), 10),
    parseInt(t.substring(8, 10), 10),
    parseInt(t.substring(11, 13), 10)
  ], doc.generation_time);
}
