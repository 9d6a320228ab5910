// A page view's key, [page_type, year, month, day, hour] (UTC), or null for any other
// document: group_level 1, 4 and 5 give per type, per day, per hour.
function (doc) {
  var t = doc.timestamp;
  if (doc.log_type !== "page_view" || typeof doc.generation_time !== "number") return null;
  if (typeof doc.page_type !== "string" || typeof t !== "string" || t.length < 13) return null;
  return [
    doc.page_type,
    parseInt(t.substring(0, 4), 10),
    parseInt(t.substring(5, 7), 10),
    parseInt(t.substring(8, 10), 10),
    parseInt(t.substring(11, 13), 10)
  ];
}
